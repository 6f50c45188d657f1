//! CONFIG GET/SET/REWRITE/RESETSTAT.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
