//! The command table: one [`CommandSpec`] row per command, gathered from the family files, and the
//! case-insensitive lookup dispatch uses.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{CmdResult, Ctx};
use bytes::Bytes;

pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;

/// One command: what dispatch checks and what COMMAND INFO / COMMAND DOCS report.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lowercase name; `container|sub` for subcommands (Redis 7 naming).
    pub name: &'static str,
    /// Redis arity: N exact args (name included), or -N for at least N.
    pub arity: i32,
    pub flags: u32,
    /// Key positions for COMMAND INFO / GETKEYS: first, last (negative counts from the end), step.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub handler: Handler,
    /// ACL categories as Redis lists them, e.g. `@read @string @fast`.
    pub acl: &'static str,
    /// For container commands (CONFIG, CLIENT, ...): the subcommands; dispatch resolves them.
    pub subcommands: &'static [CommandSpec],
    /// COMMAND DOCS: group, version it appeared in, summary, complexity.
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
}

fn no_handler(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    // Container commands are resolved to a subcommand before any handler runs.
    Err(super::CmdError::Syntax)
}

impl CommandSpec {
    pub const fn new(name: &'static str, arity: i32, handler: Handler) -> Self {
        CommandSpec {
            name,
            arity,
            flags: 0,
            first_key: 0,
            last_key: 0,
            step: 0,
            handler,
            acl: "",
            subcommands: &[],
            group: "generic",
            since: "1.0.0",
            summary: "",
            complexity: "",
        }
    }

    /// A container command (CONFIG, CLIENT, ...) whose subcommands carry the handlers.
    pub const fn container(name: &'static str, subcommands: &'static [CommandSpec]) -> Self {
        let mut c = CommandSpec::new(name, -2, no_handler);
        c.subcommands = subcommands;
        c
    }

    pub const fn flags(mut self, f: u32) -> Self {
        self.flags = f;
        self
    }

    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    pub const fn acl(mut self, acl: &'static str) -> Self {
        self.acl = acl;
        self
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self.complexity = complexity;
        self
    }

    /// The subcommand part of `container|sub`, or the whole name.
    pub fn sub_name(&self) -> &'static str {
        match self.name.find('|') {
            Some(i) => &self.name[i + 1..],
            None => self.name,
        }
    }

    /// Key positions of this command in `args` (COMMAND GETKEYS, and later cluster/ACL checks).
    pub fn key_indexes(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 || self.step <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let mut v = Vec::new();
        let mut i = self.first_key;
        while i <= last && (i as usize) < argc {
            v.push(i as usize);
            i += self.step;
        }
        v
    }
}

/// Every command family's rows.
pub fn all_families() -> impl Iterator<Item = &'static CommandSpec> {
    [
        super::conn::COMMANDS,
        super::client::COMMANDS,
        super::string::COMMANDS,
        super::keys::COMMANDS,
        super::server::COMMANDS,
        super::config::COMMANDS,
        super::debug::COMMANDS,
        super::dump::COMMANDS,
        super::persist::COMMANDS,
        super::list::COMMANDS,
        super::blocking::COMMANDS,
        super::sort::COMMANDS,
        super::hash::COMMANDS,
        super::set::COMMANDS,
        super::zset::COMMANDS,
        super::tx::COMMANDS,
        super::pubsub::COMMANDS,
        super::repl::COMMANDS,
        super::replicaof::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

/// Name → row, hashed with foldhash: this lookup runs for every command.
type Index = HashMap<&'static [u8], &'static CommandSpec, foldhash::fast::RandomState>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| all_families().map(|c| (c.name.as_bytes(), c)).collect())
}

/// All top-level commands (COMMAND, COMMAND COUNT, COMMAND LIST).
pub fn all() -> &'static [&'static CommandSpec] {
    static ALL: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v: Vec<_> = all_families().collect();
        v.sort_by_key(|c| c.name);
        v
    })
}

/// Finds a top-level command by name, ignoring ASCII case, without allocating for normal names.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    index().get(&buf[..name.len()]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_subcommands_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for c in all_families() {
            assert_eq!(c.name, c.name.to_ascii_lowercase(), "{}", c.name);
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
            for s in c.subcommands {
                assert!(s.name.starts_with(&format!("{}|", c.name)), "{}", s.name);
            }
        }
    }
}
