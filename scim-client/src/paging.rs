//! The `list` stream: index pages (RFC 7644 3.4.2.4) or RFC 9865 cursors.

use crate::capabilities::Capabilities;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::Query;
use crate::transport::Req;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::Method;
use scim_core::message::ListResponse;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Where the next page starts.
#[derive(Debug)]
enum Next {
    /// The capabilities are not read yet.
    Start,
    /// Index paging from this 1-based index.
    Index(u64),
    /// Cursor paging with this cursor (`""` for the first page).
    Cursor(String),
    /// No more pages.
    Done,
}

struct State {
    client: Client,
    endpoint: String,
    query: Query,
    next: Next,
    /// Pages fetched, as a guard against a server that never ends a cursor chain.
    pages: u64,
}

pub(crate) fn stream<T: DeserializeOwned + Send + 'static>(
    client: Client,
    endpoint: String,
    query: Query,
) -> BoxStream<'static, Result<T>> {
    let state = State { client, endpoint, query, next: Next::Start, pages: 0 };
    stream::try_unfold(state, |mut s| async move {
        if matches!(s.next, Next::Start) {
            let caps = match s.client.capabilities().await {
                Ok(c) => Some(c),
                // A server without a readable ServiceProviderConfig: page by index, unclamped.
                Err(Error::Api(_)) => None,
                Err(e) => return Err(e),
            };
            start(&mut s, caps)?;
        }
        let page: ListResponse<T> = match &s.next {
            Next::Done | Next::Start => return Ok(None),
            Next::Index(i) => {
                let q = s.query.clone().start_index(*i);
                fetch(&s, &q).await?
            }
            Next::Cursor(c) => {
                let mut q = s.query.clone();
                q.start_index = None;
                let q = q.cursor(c.clone());
                fetch(&s, &q).await?
            }
        };
        s.pages += 1;
        let n = page.resources.len() as u64;
        s.next = match (&s.next, page.next_cursor) {
            (Next::Cursor(prev), Some(c)) if !c.is_empty() && (n > 0 || *prev != c) => {
                Next::Cursor(c)
            }
            (Next::Cursor(_), _) => Next::Done,
            (Next::Index(i), _) => {
                let next = i.saturating_add(n);
                if n == 0 || next > page.total_results { Next::Done } else { Next::Index(next) }
            }
            _ => Next::Done,
        };
        if s.pages > 10_000_000 {
            s.next = Next::Done;
        }
        Ok(Some((page.resources, s)))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

fn start(s: &mut State, caps: Option<Arc<Capabilities>>) -> Result<()> {
    let Some(caps) = caps else {
        s.next = Next::Index(s.query.start_index.unwrap_or(1).max(1));
        return Ok(());
    };
    caps.check_query(&s.query)?;
    if let Some(max) = caps.max_page_size() {
        s.query.count = Some(s.query.count.map_or(max, |c| c.min(max)));
    }
    s.next = if caps.cursor_paging() && s.query.start_index.is_none() {
        Next::Cursor(s.query.cursor.clone().unwrap_or_default())
    } else {
        Next::Index(s.query.start_index.unwrap_or(1).max(1))
    };
    Ok(())
}

async fn fetch<T: DeserializeOwned>(s: &State, q: &Query) -> Result<ListResponse<T>> {
    let mut url = s.client.inner.url(&[&s.endpoint])?;
    url.query_pairs_mut().extend_pairs(q.to_params()?);
    s.client.inner.execute(Req::new(Method::GET, url)).await?.json()
}
