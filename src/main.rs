//! `ferredis-server`: parses the command line as redis-server does, loads the configuration, and runs
//! the server.

use std::sync::Arc;

fn main() -> anyhow::Result<()> {
    let config = ferredis::config::Config::default();
    tracing_subscriber::fmt().with_target(false).init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let srv = ferredis::server::Server::new(config, None);
        let (listeners, unix) = ferredis::server::listen::bind_all(&srv)?;
        tracing::info!("Ready to accept connections");
        ferredis::server::listen::run(Arc::clone(&srv), listeners, unix).await;
        anyhow::Ok(())
    })
}
