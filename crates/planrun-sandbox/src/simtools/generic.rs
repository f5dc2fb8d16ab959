//! `pnpm` and `flux`: answer by argv rule.

use super::behaviour::ToolBehaviour;

/// Runs the reply of the first rule matching `args`.
pub fn run(tool: &ToolBehaviour, args: &[String]) -> i32 {
    tool.reply_for(args).perform()
}
