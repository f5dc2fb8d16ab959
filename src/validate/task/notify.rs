//! `notify`: post a message to a webhook.

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawNotifyTask;
use crate::validate::error::ErrorKind;
use crate::validate::notify::{Webhook, webhook};
use crate::validate::task_table::Builder;

/// `notify`.
#[derive(Debug, Clone)]
pub struct Notify {
    pub webhook: Webhook,
    pub message: String,
    /// Not delivered, the task fails (else it fails as allowed).
    pub required: bool,
}

impl Notify {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawNotifyTask = b.own()?;
        match webhook(&raw.url, raw.template.as_deref(), None, None, b.cx.redactor) {
            Ok(webhook) => Some(Self {
                webhook,
                message: raw.message,
                required: raw.required,
            }),
            Err(problems) => {
                let id = b.id.to_owned();
                for (key, message, help) in problems {
                    b.error(
                        ErrorKind::BadValue,
                        format!("task `{id}`: {message}"),
                        key,
                        "here",
                        help,
                    );
                }
                None
            }
        }
    }
}

impl TaskSpec for Notify {
    fn task_type(&self) -> TaskType {
        TaskType::Notify
    }

    /// Posting a message changes nothing a resume should ask about.
    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!("post to the webhook: {}", self.message)
    }
}
