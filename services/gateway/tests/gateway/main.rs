//! The gateway's integration tests, as one test binary so that it is linked once:
//! `cargo test -p orderflow-gateway --test gateway` runs them all, and a name filter picks some
//! (`cargo test -p orderflow-gateway --test gateway signalr_client` runs the Node and Python
//! client suites, `... --test gateway resume::` the resume tests).
//!
//! Every module but `support` is one subject: [`feed`] (NATS faults under live delivery),
//! [`hub`] (the wire: auth, groups, protocol errors), [`limits`] (caps, rate limits,
//! liveness, metrics), [`presence`] (who is connected, across gateways), [`resume`] (nothing
//! lost across reconnects), [`since`] (the dashboard's `ReplaySince`) and [`signalr_client`]
//! (the launcher of the suite in `signalr-tests/`).

mod feed;
mod hub;
mod limits;
mod live_link;
mod presence;
mod resume;
mod signalr_client;
mod since;
mod support;
