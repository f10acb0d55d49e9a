//! `personactl serve`: the HTTP API over the hot-reloading registry.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use personas::Registry;
use personas::server::{AppState, ServeOptions, serve_with};

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

    /// Seconds a request's headers may take, from their first byte.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    header_timeout: Duration,

    /// Seconds a request's body may take to arrive (then 408).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    body_timeout: Duration,

    /// Seconds a connection may wait for its next request (a new one for its first).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    idle_timeout: Duration,

    /// Connections served at once; past it a new connection gets a 503 and is closed.
    #[arg(long, value_name = "N", default_value = "512", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

/// A positive number of seconds (fractions allowed: `0.5`).
fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!(
            "`{s}`: a timeout is more than 0 and at most 86400 seconds"
        ))
    }
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
        let options = ServeOptions {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections as usize,
        };
        serve_with(listener, state, options, shutdown_signal())
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
