//! `ferredis-server`: parses the command line as redis-server does
//! (`ferredis-server [/path/redis.conf] [--directive value ...] [-]`), loads the configuration,
//! daemonizes if asked (before any thread exists), sets up logging, and runs the server.

use std::path::PathBuf;
use std::sync::Arc;

use ferredis::config::{Chunk, Config, Source};
use ferredis::log;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Redis's default pidfile, used when daemonized without `pidfile`.
const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

fn version_line() -> String {
    format!(
        "ferredis server v={VERSION} redis_version=7.0.15 bits={} rustc_target={}-{}",
        usize::BITS,
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

fn usage() -> String {
    [
        "Usage: ./ferredis-server [/path/to/redis.conf] [options] [-]",
        "       ./ferredis-server - (read config from stdin)",
        "       ./ferredis-server -v or --version",
        "       ./ferredis-server -h or --help",
        "",
        "Examples:",
        "       ./ferredis-server (run the server with default conf)",
        "       echo 'maxmemory 128mb' | ./ferredis-server -",
        "       ./ferredis-server /etc/redis/6379.conf",
        "       ./ferredis-server --port 7777",
        "       ./ferredis-server --port 7777 --replicaof 127.0.0.1 8888",
        "       ./ferredis-server /etc/myredis.conf --loglevel verbose -",
        "       ./ferredis-server /etc/myredis.conf --loglevel verbose",
        "",
    ]
    .join("\n")
}

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
struct CommandLine {
    /// The config file, as given.
    file: Option<String>,
    /// `-`: read configuration from standard input after the file.
    stdin: bool,
    /// `--directive value ...` turned into config-file text, one directive per line.
    options: String,
}

/// Turns arguments (program name excluded) into a config file, stdin flag and option text, with
/// redis-server's rules: a first argument not starting with `-` is the file; `--name` starts a
/// directive; a following argument that is not `--...` is one of its values, quoted so that spaces
/// inside it survive (a multi-argument directive splits a single value again); a `--name value` given
/// as one argument stands alone; `--save` with no value means `save ""`.
fn parse_command_line(args: &[String]) -> CommandLine {
    let mut cl = CommandLine::default();
    let mut j = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            cl.file = Some(first.clone());
            j = 1;
        }
    }
    let argc = args.len();
    let mut handled_last = true;
    while j < argc {
        let a = &args[j];
        if a == "-" && (j == 0 || j == argc - 1) {
            cl.stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !cl.options.is_empty() {
                cl.options.push('\n');
            }
            cl.options.push_str(&a[2..]);
            cl.options.push(' ');
            let words = ferredis::resp::request::split_args(a.as_bytes());
            if words.map(|w| w.len()) == Some(1) {
                // Only a name: its values follow as separate arguments.
                handled_last = false;
                let next_is_option = j + 1 < argc && args[j + 1].starts_with("--");
                if a.eq_ignore_ascii_case("--save") && (next_is_option || j == argc - 1) {
                    cl.options.push_str("\"\"");
                    handled_last = true;
                } else if a.eq_ignore_ascii_case("--sentinel") && (next_is_option || j == argc - 1)
                {
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            cl.options.push_str(&ferredis::server::repr(a.as_bytes()));
            cl.options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    cl
}

fn fatal_config(msg: &str) -> ! {
    eprintln!("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n{msg}");
    std::process::exit(1);
}

/// Forks into the background as Redis does: the parent exits, the child starts a new session and
/// points its standard streams at /dev/null. Must run before any thread exists.
fn daemonize() {
    // SAFETY: called from main before the tokio runtime (or any other thread) is created.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!("fork failed: {}", std::io::Error::last_os_error());
                std::process::exit(1);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if fd != -1 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let args = &argv[1..];
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!("{}", version_line());
                std::process::exit(0);
            }
            "-h" | "--help" => {
                eprint!("{}", usage());
                std::process::exit(0);
            }
            "--test-memory" | "--check-system" => {
                eprintln!("{first} is not supported by ferredis");
                std::process::exit(1);
            }
            _ => {}
        }
    }
    let cl = parse_command_line(args);
    let mut chunks = Vec::new();
    let config_file: Option<PathBuf> = cl
        .file
        .as_ref()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| PathBuf::from(f)));
    if let Some(abs) = &config_file {
        match ferredis::config::read_config_file(&abs.display().to_string()) {
            Ok(text) => chunks.push(Chunk {
                source: Source::File(abs.clone()),
                text,
            }),
            Err(e) => {
                log::log(log::LL_WARNING, &e.to_string());
                std::process::exit(1);
            }
        }
    }
    if cl.stdin {
        log::log(log::LL_WARNING, "Reading config from stdin");
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
        chunks.push(Chunk {
            source: Source::Stdin,
            text,
        });
    }
    if !args.is_empty() {
        chunks.push(Chunk {
            source: Source::CommandLine,
            text: cl.options.clone(),
        });
    }
    let mut config = Config::default();
    let report = match config.load(&chunks) {
        Ok(r) => r,
        // An included file that cannot be opened is logged, as the main file is.
        Err(ferredis::config::LoadError::Open(e)) => {
            log::log(log::LL_WARNING, &e.to_string());
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if !config.logfile.is_empty() {
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.logfile)
        {
            fatal_config(&format!(
                "Can't open the log file: {}",
                std::io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0))
                    .to_string()
                    .split(" (os error")
                    .next()
                    .unwrap_or_default()
            ));
        }
    }
    log::init(&config.loglevel, &config.logfile);
    let supervised = supervision(&config.supervised);
    // A supervised server stays in the foreground whatever `daemonize` says, as Redis does.
    if config.daemonize && supervised.is_none() {
        daemonize();
    }
    tracing::warn!("oO0OoO0OoO0Oo ferredis is starting oO0OoO0OoO0Oo");
    tracing::warn!(
        "ferredis version={}, redis_version=7.0.15, bits={}, pid={}, just started",
        VERSION,
        usize::BITS,
        std::process::id()
    );
    if args.is_empty() {
        tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use {} /path/to/redis.conf",
            argv[0]
        );
    } else {
        tracing::warn!("Configuration loaded");
    }
    if !report.no_effect.is_empty() {
        tracing::info!(
            "Directives accepted without effect in ferredis: {}",
            report.no_effect.join(", ")
        );
    }
    std::process::exit(run(config, config_file, supervised));
}

/// How a service manager watches this process (`supervised`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Supervisor {
    Systemd,
    Upstart,
}

/// Resolves `supervised` (no, upstart, systemd, auto) as Redis does, and sets it up: upstart is told
/// of readiness by stopping (SIGSTOP) now; systemd gets status messages on $NOTIFY_SOCKET.
fn supervision(mode: &str) -> Option<Supervisor> {
    let mode = match mode {
        "auto" if std::env::var_os("UPSTART_JOB").is_some() => {
            tracing::debug!("Upstart supervision detected.");
            "upstart"
        }
        "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => {
            tracing::debug!("Systemd supervision detected.");
            "systemd"
        }
        m => m,
    };
    match mode {
        "upstart" => {
            if std::env::var_os("UPSTART_JOB").is_none() {
                tracing::warn!("upstart supervision requested, but UPSTART_JOB not found!");
                return None;
            }
            tracing::info!("supervised by upstart, will stop to signal readiness.");
            // SAFETY: raising a signal on ourselves; no other thread exists yet.
            unsafe {
                libc::raise(libc::SIGSTOP);
                std::env::remove_var("UPSTART_JOB");
            }
            Some(Supervisor::Upstart)
        }
        "systemd" => {
            if !sd_notify("STATUS=ferredis is loading...\n") {
                tracing::warn!(
                    "systemd supervision requested or auto-detected, but NOTIFY_SOCKET not found!"
                );
                return None;
            }
            tracing::info!("Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.");
            Some(Supervisor::Systemd)
        }
        _ => None,
    }
}

/// Sends one sd_notify message to $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace).
fn sd_notify(msg: &str) -> bool {
    use std::os::unix::net::UnixDatagram;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let path = path.to_string_lossy().into_owned();
    let sent = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
        }
        None => sock.send_to(msg.as_bytes(), &path),
    };
    if let Err(e) = &sent {
        tracing::warn!("Can't send notification to systemd: {}", e);
    }
    sent.is_ok()
}

fn run(mut config: Config, config_file: Option<PathBuf>, supervised: Option<Supervisor>) -> i32 {
    // As Redis: when the open-files limit cannot fit maxclients plus 32 reserved descriptors,
    // maxclients shrinks to fit.
    let want = config.maxclients + 32;
    let limit = ferredis::server::adjust_open_files_limit(config.maxclients);
    if limit < want {
        let reduced = limit.saturating_sub(32).max(1);
        tracing::warn!(
            "You requested maxclients of {} requiring at least {} max file descriptors.",
            config.maxclients,
            want
        );
        tracing::warn!(
            "Current maximum open files is {}. maxclients has been reduced to {} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
            limit,
            reduced
        );
        config.maxclients = reduced;
    }
    // Redis writes a pidfile when it forked, or when one is configured.
    let write_pidfile = (config.daemonize && supervised.is_none()) || !config.pidfile.is_empty();
    if write_pidfile && config.pidfile.is_empty() {
        config.pidfile = DEFAULT_PIDFILE.into();
    }
    // `io-threads` (Redis's knob for how many threads do network I/O, default 1) sets the runtime's
    // worker threads. One worker is what a 2-core machine shared with its clients serves best: a
    // second worker mostly adds cross-thread wake-ups (see docs/BENCHMARKS.md). TOKIO_WORKER_THREADS
    // still overrides it for experiments.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(config.io_threads.clamp(1, 128) as usize);
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("Failed creating the runtime: {}", e);
            return 1;
        }
    };
    rt.block_on(async move {
        let srv = ferredis::server::Server::new(config, config_file);
        let (listeners, unix) = match ferredis::server::listen::bind_all(&srv) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("{}", e);
                if matches!(e, ferredis::server::listen::ListenError::Tcp { .. }) {
                    tracing::warn!(
                        "Failed listening on port {} (TCP), aborting.",
                        srv.config.read().port
                    );
                }
                return 1;
            }
        };
        let (pidfile, show_logo, logfile_empty, syslog, unixsocket) = {
            let c = srv.config.read();
            (
                c.pidfile.clone(),
                c.always_show_logo,
                c.logfile.is_empty(),
                c.syslog_enabled,
                c.unixsocket.clone(),
            )
        };
        if write_pidfile {
            // Best effort, as Redis: a pidfile that cannot be written is not fatal.
            let _ = std::fs::write(&pidfile, format!("{}\n", std::process::id()));
        }
        log::set_role(if srv.config.read().replicaof.is_some() {
            b'S'
        } else {
            b'M'
        });
        // SAFETY: isatty on fd 1.
        let tty = unsafe { libc::isatty(1) } == 1;
        if show_logo || (logfile_empty && tty && !syslog) {
            log::raw(&log::banner(
                VERSION,
                "standalone",
                srv.port(),
                std::process::id(),
            ));
        } else {
            tracing::info!("Running mode=standalone, port={}.", srv.port());
        }
        tracing::warn!("Server initialized");
        let has_listeners = !listeners.is_empty();
        // A `replicaof` directive: a replica from the start (its load keeps expired keys).
        ferredis::replication::replica::init_from_config(&srv);
        // Clients are served while the dump file loads (they get -LOADING until it is in place):
        // the loading state is set before the first connection is accepted.
        let pending = match ferredis::server::save::load_at_startup(&srv) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("{}", e);
                return 1;
            }
        };
        let mut serving = tokio::spawn(ferredis::server::listen::run(
            Arc::clone(&srv),
            listeners,
            unix,
        ));
        if let Some(pending) = pending {
            tokio::select! {
                res = pending.finish() => {
                    if let Err(e) = res {
                        tracing::warn!("{}", e);
                        return 1;
                    }
                }
                // A SHUTDOWN or signal during the load (which saves nothing while loading).
                _ = &mut serving => {
                    if write_pidfile {
                        let _ = std::fs::remove_file(&pidfile);
                    }
                    tracing::warn!("ferredis is now ready to exit, bye bye...");
                    return 0;
                }
            }
        }
        if has_listeners {
            tracing::info!("Ready to accept connections");
        }
        ferredis::replication::replica::start_from_config(&srv);
        if let Some(path) = &unixsocket {
            tracing::info!("The server is now ready to accept connections at {}", path);
        }
        if supervised == Some(Supervisor::Systemd) {
            if srv.config.read().replicaof.is_none() {
                sd_notify("STATUS=Ready to accept connections\n");
            } else {
                sd_notify("STATUS=Ready to accept connections in read-only mode. Waiting for MASTER <-> REPLICA sync\n");
            }
            sd_notify("READY=1\n");
        }
        let maxmemory = srv.config.read().maxmemory;
        if maxmemory > 0 && maxmemory < 1024 * 1024 {
            tracing::warn!(
                "WARNING: You specified a maxmemory value that is less than 1MB (current value is {} bytes). Are you sure this is what you really want?",
                maxmemory
            );
        }
        let _ = serving.await;
        if supervised == Some(Supervisor::Systemd) {
            sd_notify("STOPPING=1\n");
        }
        if write_pidfile {
            tracing::info!("Removing the pid file.");
            let _ = std::fs::remove_file(&pidfile);
        }
        tracing::warn!("ferredis is now ready to exit, bye bye...");
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cl(v: &[&str]) -> CommandLine {
        parse_command_line(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line_forms() {
        let c = cl(&[
            "/etc/r.conf",
            "--port",
            "7000",
            "--replicaof",
            "127.0.0.1",
            "6379",
        ]);
        assert_eq!(c.file.as_deref(), Some("/etc/r.conf"));
        assert_eq!(
            c.options,
            "port \"7000\" \nreplicaof \"127.0.0.1\" \"6379\" "
        );
        let c = cl(&["--replicaof", "127.0.0.1 6379"]);
        assert_eq!(c.options, "replicaof \"127.0.0.1 6379\" ");
        let c = cl(&["--save", "", "--port", "1"]);
        assert_eq!(c.options, "save \"\" \nport \"1\" ");
        let c = cl(&["--save", "--port", "1"]);
        assert_eq!(c.options, "save \"\"\nport \"1\" ");
        let c = cl(&["--port 6380", "--loglevel", "debug", "-"]);
        assert!(c.stdin);
        assert_eq!(c.options, "port 6380 \nloglevel \"debug\" ");
    }
}
