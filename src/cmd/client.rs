//! CLIENT and the connection-state commands HELLO, AUTH, RESET.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
