//! `planrun schema`

use crate::error::Error;

pub fn run() -> Result<(), Error> {
    print!("{}", crate::plan::plan_schema());
    Ok(())
}
