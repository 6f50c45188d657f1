//! `ferredis-server`: parses the command line as redis-server does, loads the configuration, and runs
//! the server.

use std::sync::Arc;

/// Turns `[config] [--directive value ...]` into config-file text, as redis-server does.
fn args_to_text(args: &[String]) -> (Option<String>, String) {
    let mut file = None;
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            file = Some(first.clone());
            rest = &args[1..];
        }
    }
    let mut text = String::new();
    for a in rest {
        if let Some(d) = a.strip_prefix("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(d);
        } else {
            text.push(' ');
            if a.is_empty() {
                text.push_str("\"\"");
            } else {
                text.push_str(a);
            }
        }
    }
    (file, text)
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (file, text) = args_to_text(&argv);
    let mut config = ferredis::config::Config::default();
    if let Some(f) = &file {
        let body = std::fs::read_to_string(f)?;
        if let Err(e) = config.apply_text(&body) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = config.apply_text(&text) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let logfile = config.logfile.clone();
    if logfile.is_empty() {
        tracing_subscriber::fmt().with_target(false).init();
    } else {
        let path = std::path::Path::new(&config.dir).join(&logfile);
        let path = if std::path::Path::new(&logfile).is_absolute() {
            logfile.into()
        } else {
            path
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        tracing_subscriber::fmt()
            .with_target(false)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let srv = ferredis::server::Server::new(config, file.map(Into::into));
        let (listeners, unix) = match ferredis::server::listen::bind_all(&srv) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("{}", e);
                std::process::exit(1);
            }
        };
        tracing::info!("Ready to accept connections");
        ferredis::server::listen::run(Arc::clone(&srv), listeners, unix).await;
        anyhow::Ok(())
    })
}
