//! Paged listings (stream and consumer names and infos): a page per API request, fetched as
//! the iterator reaches it.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::api;
use super::consumer::ConsumerInfo;
use super::stream::StreamInfo;
use super::JetStream;
use crate::error::Result;

/// A paged listing: each page is one API request, made as the iterator reaches it. An error
/// is yielded once, then the iterator ends.
pub struct Paged<T> {
    js: JetStream,
    suffix: String,
    subject: Option<String>,
    offset: usize,
    buf: VecDeque<T>,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

/// Stream names from [`JetStream::stream_names`](super::JetStream::stream_names).
pub type StreamNames = Paged<String>;
/// Stream infos from [`JetStream::streams`](super::JetStream::streams).
pub type StreamInfos = Paged<StreamInfo>;
/// Consumer names from [`Stream::consumer_names`](super::Stream::consumer_names).
pub type ConsumerNames = Paged<String>;
/// Consumer infos from [`Stream::consumers`](super::Stream::consumers).
pub type ConsumerInfos = Paged<ConsumerInfo>;

impl<T> fmt::Debug for Paged<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paged")
            .field("api", &self.suffix)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<T: DeserializeOwned> Paged<T> {
    pub(crate) fn new(js: JetStream, suffix: String, subject: Option<String>) -> Paged<T> {
        Paged {
            js,
            suffix,
            subject,
            offset: 0,
            buf: VecDeque::new(),
            done: false,
            _t: PhantomData,
        }
    }

    fn fetch(&mut self) -> Result<()> {
        #[derive(Serialize)]
        struct Req<'a> {
            offset: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            subject: Option<&'a str>,
        }
        #[derive(Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Reply<T> {
            #[serde(flatten)]
            page: api::Page,
            #[serde(default, alias = "streams", alias = "consumers")]
            items: Option<Vec<T>>,
        }
        let r: Reply<T> = self.js.api_json(
            &self.suffix,
            &Req {
                offset: self.offset,
                subject: self.subject.as_deref(),
            },
        )?;
        let items = r.items.unwrap_or_default();
        self.offset += items.len();
        if items.is_empty() || self.offset >= r.page.total {
            self.done = true;
        }
        self.buf.extend(items);
        Ok(())
    }
}

impl<T: DeserializeOwned> Iterator for Paged<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(x) = self.buf.pop_front() {
                return Some(Ok(x));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}
