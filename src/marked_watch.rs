//! The engine under KV and Object Store watchers: an ordered consumer that knows where the
//! initial data ends (ADR-8 "Watchers"), so it can say so exactly once.
//!
//! The initial data is what the consumer had to deliver when it was created
//! (`num_pending + delivered.consumer_seq`). It has ended when that many messages were read
//! **or** a message says nothing is pending after it (`delta == 0`): the "or" survives a
//! server that miscounts pending (nats-io/nats-server#4824, #4685). With nothing to deliver
//! (an empty bucket, updates only) it ends at once. Skipped messages (deletes a caller
//! ignores) count too: the caller sees every message.

use std::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::{
    ConsumeOptions, JetStream, JsMessage, MessageMetadata, OrderedConsumerConfig, OrderedMessages,
};

/// What the engine hands out (one at a time, by value: the size difference does not matter).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Step {
    /// A message and what its ack subject says.
    Msg(JsMessage, MessageMetadata),
    /// The initial data has been delivered (exactly once per watch).
    InitialDone,
}

pub(crate) struct MarkedWatch {
    msgs: OrderedMessages,
    initial: u64,
    received: u64,
    marker_due: bool,
    marker_sent: bool,
}

impl MarkedWatch {
    /// Creates the ordered consumer on `stream`; `now_done` sends the marker first whatever is
    /// pending (updates only). A missing stream is [`ErrorKind::BucketNotFound`].
    pub(crate) fn start(
        js: &JetStream,
        stream: &str,
        config: OrderedConsumerConfig,
        consume: ConsumeOptions,
        now_done: bool,
    ) -> Result<MarkedWatch> {
        let oc = js
            .ordered_consumer(stream, config)
            .map_err(bucket_not_found)?;
        let initial = oc
            .current_info()
            .map(|i| i.num_pending + i.delivered.consumer_seq)
            .unwrap_or(0);
        let msgs = oc.messages(consume)?;
        Ok(MarkedWatch {
            msgs,
            initial,
            received: 0,
            marker_due: now_done || initial == 0,
            marker_sent: false,
        })
    }

    /// Whether the marker has been handed out.
    pub(crate) fn initial_done(&self) -> bool {
        self.marker_sent
    }

    /// The next step, waiting until `deadline` at most ([`ErrorKind::Timeout`]).
    pub(crate) fn next_until(&mut self, deadline: Option<Instant>) -> Result<Step> {
        if self.marker_due && !self.marker_sent {
            self.marker_sent = true;
            return Ok(Step::InitialDone);
        }
        let m = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                self.msgs.next_timeout(left).map_err(bucket_not_found)?
            }
            None => match self.msgs.next() {
                Some(r) => r.map_err(bucket_not_found)?,
                None => return Err(Error::new(ErrorKind::Unsubscribed, "the watch has ended")),
            },
        };
        let md = m.metadata()?;
        self.received += 1;
        if !self.marker_sent && (self.received >= self.initial || md.num_pending == 0) {
            self.marker_due = true;
        }
        Ok(Step::Msg(m, md))
    }
}

/// A stream that is not there means the bucket is not.
pub(crate) fn bucket_not_found(e: Error) -> Error {
    if e.kind() == ErrorKind::StreamNotFound {
        let mut out = Error::new(ErrorKind::BucketNotFound, e.to_string());
        if let Some(api) = e.api_error() {
            out = out.with_api_error(api.clone());
        }
        out
    } else {
        e
    }
}
