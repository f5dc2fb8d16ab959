//! Announcing the window: a JSON POST to a webhook (Slack-compatible by default),
//! retried with backoff, its URL a secret that no output shows. The `notify` task
//! type posts one message ([`deliver`]); the plan's `[notify]` table announces the
//! run at its start, its first failure, an interruption and its end
//! ([`Announcer`], fed the run's events).

mod announcer;
mod message;
mod webhook;

pub use announcer::{Announcer, RunFacts};
pub use message::Message;
pub use webhook::deliver;
