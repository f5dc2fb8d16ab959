//! `planrun schema`

use crate::error::Error;

pub fn run() -> Result<(), Error> {
    super::print(&crate::plan::plan_schema())
}
