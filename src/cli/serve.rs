//! `personactl serve`: the HTTP API over the hot-reloading registry.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use personas::Registry;
use personas::server::{AppState, serve};

use super::{Cli, CmdResult, Failure, Outcome, dir_failure};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// Require `Authorization: Bearer TOKEN` for every write.
    #[arg(long, env = "PERSONAS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let registry = Registry::builder(&cli.dir)
        .default_persona(cli.default_persona.clone())
        .open()
        .map_err(|e| dir_failure(cli, e))?;
    let registry = Arc::new(registry);
    let _watcher = registry.watch().map_err(Failure::from)?;
    let sessions = cli
        .sessions_backend()
        .open_long_lived()
        .map_err(|e| Failure::new(e.to_string()))?;
    if !args.addr.ip().is_loopback() && args.token.is_none() {
        eprintln!(
            "warning: listening on {} without --token: anyone who can reach it can change personas",
            args.addr
        );
    }
    let state = Arc::new(AppState::new(
        registry,
        sessions,
        cli.default_persona.clone(),
        args.token.clone(),
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| Failure::new(format!("cannot listen on {}: {e}", args.addr)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::new(e.to_string()))?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}");
        let _ = out.flush();
        drop(out);
        serve(listener, state, shutdown_signal())
            .await
            .map_err(|e| Failure::new(format!("server error: {e}")))
    })?;
    Ok(Outcome::Success)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
