//! Who made a change: the actor (the credential id) and the request id that each change-log
//! row records, carried from the request to the store in a task-local, so that no store
//! method needs them as arguments and a write outside any request records neither.

use std::cell::RefCell;
use std::future::Future;

tokio::task_local! {
    static CONTEXT: RefCell<ChangeContext>;
}

/// What the change log records about the request behind a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeContext {
    /// The credential that made the change (a token id or an OAuth client id).
    pub actor: Option<String>,
    /// The request id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The HTTP method of the request (`PUT` and `PATCH` become different events).
    pub method: Option<String>,
}

/// Runs `f` with `ctx` as the change context of every write it makes.
pub async fn scope<F: Future>(ctx: ChangeContext, f: F) -> F::Output {
    CONTEXT.scope(RefCell::new(ctx), f).await
}

/// Sets the actor of the current change context (once the credential is known); a no-op
/// outside [`scope`].
pub fn set_actor(actor: &str) {
    let _ = CONTEXT.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.actor = Some(truncate(actor, 64));
        }
    });
}

/// The current change context (empty outside [`scope`]).
pub fn current() -> ChangeContext {
    CONTEXT.try_with(|c| c.try_borrow().map(|c| c.clone()).unwrap_or_default()).unwrap_or_default()
}

/// Bounds a value to the column's width (on a character boundary).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    // One copy of the kept bytes (collecting `chars()` pushed them one at a time).
    let end = s.char_indices().nth(max).map_or(s.len(), |(at, _)| at);
    s.get(..end).unwrap_or(s).to_owned()
}

#[cfg(test)]
mod tests {
    use super::truncate;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn truncate_keeps_the_first_characters(s in "\\PC{0,80}", max in 0usize..90) {
            prop_assert_eq!(truncate(&s, max), s.chars().take(max).collect::<String>());
        }
    }

    #[test]
    fn truncate_cuts_on_a_character_boundary() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("héllo", 9), "héllo");
        assert_eq!(truncate("", 3), "");
        assert_eq!(truncate("abc", 0), "");
    }
}
