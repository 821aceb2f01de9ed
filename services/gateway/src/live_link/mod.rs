//! The live feed's subscription to a stream's republished subjects, over one of two links:
//!
//! - **direct** (the default): a NATS connection of the feed's own, read in place by the feed
//!   task ([`direct`], [`wire`]). Every event costs no allocation to receive, where the general
//!   client builds a map of its nine headers: measured, that parsing was more than half of the
//!   gateway's instructions per delivery.
//! - **client**: a subscription on the gateway's general async-nats connection. Used when the
//!   servers need TLS (which the direct link does not speak), and selectable with
//!   `GATEWAY_LIVE_LINK=client`.
//!
//! Both give the feed the same view of a message and tell it when the subscription was
//! (re)established, which is when it must look for what it may have missed.

mod direct;
pub mod wire;

use std::time::Duration;

use async_nats::ServerAddr;

use crate::translate::StoredHeaders;
use direct::{DirectLink, Ready};

/// Which link carries live messages.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// A connection of the feed's own, parsed in place.
    Direct,
    /// A subscription on the general NATS client.
    Client,
}

/// A live message as the feed reads it, borrowed until the next [`Live::next`].
pub struct LiveMessage<'a> {
    /// The subject it came on (`live.…`).
    pub subject: &'a str,
    /// The headers the gateway reads.
    pub headers: StoredHeaders<'a>,
    /// The payload.
    pub payload: &'a [u8],
}

/// What the subscription delivered.
pub enum Arrival<'a> {
    /// A message.
    Message(LiveMessage<'a>),
    /// The subscription is (again) in place: messages published before may not have come.
    Linked,
}

/// The subscription.
pub struct Live {
    subject: String,
    client: async_nats::Client,
    link: Link,
}

enum Link {
    Direct(DirectLink),
    Client {
        subscriber: Option<async_nats::Subscriber>,
        /// The message last returned, which the view borrows.
        last: Option<async_nats::Message>,
    },
}

impl Link {
    /// A subscription on the general client, made at the first read.
    fn general() -> Link {
        Link::Client {
            subscriber: None,
            last: None,
        }
    }
}

impl Live {
    /// A subscription to `subject` over `kind`, on the servers of `urls` (comma separated, as
    /// the general client takes them). It connects on the first [`next`](Self::next).
    pub fn new(kind: LinkKind, urls: &str, client: async_nats::Client, subject: String) -> Live {
        let servers: Option<Vec<ServerAddr>> =
            urls.split(',').map(|url| url.trim().parse().ok()).collect();
        let link = match (kind, servers) {
            (LinkKind::Direct, Some(servers)) if !servers.is_empty() => {
                Link::Direct(DirectLink::new(servers, subject.clone()))
            }
            _ => Link::general(),
        };
        Live {
            subject,
            client,
            link,
        }
    }

    /// Whether messages come over the direct link (it may have handed over to the client).
    pub fn is_direct(&self) -> bool {
        matches!(self.link, Link::Direct(_))
    }

    /// The next message or (re)subscription; `None` once the general client is gone. Cancel
    /// safe.
    pub async fn next(&mut self) -> Option<Arrival<'_>> {
        if let Link::Direct(direct) = &mut self.link {
            match direct.ready().await {
                Ready::Message => {}
                Ready::Linked => return Some(Arrival::Linked),
                Ready::Unsupported(reason) => {
                    tracing::warn!(
                        reason,
                        subject = %self.subject,
                        "live messages go over the general NATS client instead"
                    );
                    self.link = Link::general();
                }
            }
        }
        match &mut self.link {
            Link::Direct(direct) => {
                let m = direct.message();
                Some(Arrival::Message(LiveMessage {
                    subject: m.subject,
                    headers: StoredHeaders::from_block(m.headers),
                    payload: m.payload,
                }))
            }
            Link::Client { subscriber, last } => {
                next_from_client(&self.client, &self.subject, subscriber, last).await
            }
        }
    }
}

/// [`Live::next`] over the general client: subscribes first (a `Linked`), then reads.
async fn next_from_client<'a>(
    client: &async_nats::Client,
    subject: &str,
    subscriber: &mut Option<async_nats::Subscriber>,
    last: &'a mut Option<async_nats::Message>,
) -> Option<Arrival<'a>> {
    let Some(live) = subscriber else {
        loop {
            match client.subscribe(subject.to_owned()).await {
                Ok(live) => {
                    *subscriber = Some(live);
                    return Some(Arrival::Linked);
                }
                Err(error) => {
                    tracing::warn!(%error, subject, "live subscription failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    };
    let message = last.insert(futures::StreamExt::next(live).await?);
    Some(Arrival::Message(LiveMessage {
        subject: message.subject.as_str(),
        headers: message
            .headers
            .as_ref()
            .map(StoredHeaders::read)
            .unwrap_or_default(),
        payload: &message.payload,
    }))
}
