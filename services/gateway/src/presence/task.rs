//! The presence task: one per gateway. Every flush interval it publishes this gateway's net
//! changes (and a snapshot when a peer asked for one) and tells the watching admins what changed
//! in the union; every heartbeat interval it publishes a heartbeat, forgets silent gateways and
//! asks out-of-date ones again for their snapshot. In between it applies peers' messages. On
//! drain it says goodbye, so peers drop this gateway's customers at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::Presence;
use super::wire::{self, Message};
use crate::metrics as m;

/// How long the goodbye may take to leave when the gateway drains (NATS may be away).
const BYE_FLUSH: Duration = Duration::from_secs(1);

/// The presence task's inputs.
pub struct PresenceTask {
    /// The shared presence state.
    pub presence: Arc<Presence>,
    /// The gateway's NATS connection.
    pub client: async_nats::Client,
    /// `GATEWAY_PRESENCE_FLUSH`.
    pub flush: Duration,
    /// `GATEWAY_PRESENCE_HEARTBEAT`.
    pub heartbeat: Duration,
    /// Cancelled when the gateway drains.
    pub shutdown: CancellationToken,
}

impl PresenceTask {
    /// Runs until the gateway drains.
    pub async fn run(self) {
        let id = self.presence.gateway_id().to_owned();
        let subject = wire::subject(&id);
        let (mut updates, mut asks) = match (
            self.client.subscribe(wire::ALL).await,
            self.client.subscribe(wire::sync_subject(&id)).await,
        ) {
            (Ok(updates), Ok(asks)) => (updates, asks),
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "presence: cannot subscribe; presence is off");
                return;
            }
        };
        // Peers answer with their snapshots at their next flush.
        self.publish(&subject, &self.presence.hello()).await;
        let mut flush = tokio::time::interval(self.flush);
        let mut heartbeat = tokio::time::interval(self.heartbeat);
        for timer in [&mut flush, &mut heartbeat] {
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        let mut snapshot_due = false;
        let mut heartbeat_due = false;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                Some(message) = updates.next() => {
                    let Some(gateway) = wire::gateway_of(&message.subject) else { continue };
                    if gateway == id {
                        continue;
                    }
                    let Some(decoded) = Message::decode(&message.payload) else {
                        tracing::debug!(%gateway, "presence: unreadable message ignored");
                        continue;
                    };
                    let reaction = self.presence.receive(gateway, decoded, Instant::now());
                    snapshot_due |= reaction.send_snapshot;
                    if reaction.ask_snapshot {
                        self.ask(gateway).await;
                    }
                }
                Some(_) = asks.next() => snapshot_due = true,
                _ = heartbeat.tick() => {
                    heartbeat_due = true;
                    for gateway in self.presence.expire_and_ask(Instant::now()) {
                        self.ask(&gateway).await;
                    }
                }
                _ = flush.tick() => {
                    let messages = self.presence.flush_local(snapshot_due, heartbeat_due);
                    snapshot_due = false;
                    heartbeat_due = false;
                    for message in &messages {
                        self.publish(&subject, message).await;
                    }
                    self.presence.notify_watchers();
                }
            }
        }
        self.publish(&subject, &Message::Bye).await;
        let _ = tokio::time::timeout(BYE_FLUSH, self.client.flush()).await;
    }

    async fn publish(&self, subject: &str, message: &Message) {
        if let Err(error) = self
            .client
            .publish(subject.to_owned(), message.encode().into())
            .await
        {
            // Peers notice what they missed from the next heartbeat and ask for a snapshot.
            tracing::debug!(%error, "presence: publish failed");
        } else {
            metrics::counter!(m::PRESENCE_PUBLISHED).increment(1);
        }
    }

    async fn ask(&self, gateway: &str) {
        tracing::debug!(%gateway, "presence: asking for a snapshot");
        metrics::counter!(m::PRESENCE_SNAPSHOT_REQUESTS).increment(1);
        if let Err(error) = self
            .client
            .publish(wire::sync_subject(gateway), bytes::Bytes::new())
            .await
        {
            tracing::debug!(%error, "presence: snapshot request failed");
        }
    }
}
