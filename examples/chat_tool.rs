//! A small terminal chat program that links personactl the way a chat service would: the
//! registry with hot reload, the sessions index, resolution with fallbacks, and the persona's
//! system prompt sent to an OpenAI-compatible model (or an offline echo model).
//!
//! ```sh
//! cargo run --example chat_tool -- --session demo --persona coach
//! OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=… cargo run --example chat_tool
//! ```
//!
//! Edit a persona file while it runs: the next turn uses the new version, or, with
//! `--policy pin`, the chat keeps the version it began with and says that a newer one exists;
//! typing `/upgrade` moves it to the current version.

use std::io::{BufRead, Write};

use personas::{Policy, Registry, SessionBackend, Upgrade};
use serde_json::{Value, json};

/// A terminal chat over personactl personas.
#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value = "personas")]
    dir: String,
    /// The sessions index: a file, or a `postgres://` URL shared by every replica.
    #[arg(long, default_value = "sessions.jsonl")]
    sessions: String,
    /// The chat session to start or resume.
    #[arg(long, default_value = "demo")]
    session: String,
    /// Link the session to this persona first.
    #[arg(long)]
    persona: Option<String>,
    #[arg(long, default_value = personas::DEFAULT_PERSONA_ID)]
    default_persona: String,
    /// The user's name, for prompts that use `{{user_name}}`.
    #[arg(long, default_value = "friend")]
    user_name: String,
    /// Whether a chat follows edits to its persona, or keeps the version it began with.
    #[arg(long, value_enum, default_value_t = PolicyArg::Follow)]
    policy: PolicyArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PolicyArg {
    /// The current persona, each turn.
    Follow,
    /// The persona as it was when the session was linked, until `/upgrade`.
    Pin,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = <Args as clap::Parser>::parse();
    // Start-up: load every persona and keep them live; open the sessions index.
    let registry = Registry::builder(&args.dir)
        .default_persona(args.default_persona.clone())
        .open()?;
    let _watch = registry.watch()?;
    let mut sessions = SessionBackend::parse(&args.sessions).open_long_lived()?;

    if let Some(id) = &args.persona {
        let snapshot = registry.snapshot();
        let entry = snapshot.find(id).ok_or(format!("no persona `{id}`"))?;
        sessions.link(&args.session, entry)?;
    }
    let model = Model::from_env();
    let mut history: Vec<Value> = Vec::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut shown_id = String::new();
    let mut noted = String::new();
    let policy = match args.policy {
        PolicyArg::Follow => Policy::Follow,
        PolicyArg::Pin => Policy::Pin,
    };
    write!(out, "you> ")?;
    out.flush()?;
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // Per turn: a fresh snapshot, so edits to persona files apply from the next turn.
        let snapshot = registry.snapshot();
        if line.trim() == "/upgrade" {
            let said = match personas::upgrade(&mut *sessions, &args.session, &*snapshot)? {
                Upgrade::Relinked { link, .. } => format!(
                    "upgraded to {} revision {}",
                    link.persona,
                    link.revision.as_deref().unwrap_or("?")
                ),
                Upgrade::PersonaGone { persona } => {
                    format!("cannot upgrade: `{persona}` no longer exists")
                }
                Upgrade::NotLinked => "cannot upgrade: this session is not linked".to_owned(),
                _ => "already at the current version".to_owned(),
            };
            writeln!(out, "[{said}]")?;
            write!(out, "you> ")?;
            out.flush()?;
            continue;
        }
        let pinned = sessions.pinned(&args.session, &*snapshot, &args.default_persona)?;
        let resolved = &pinned.resolution;
        let persona = pinned.persona(policy);
        if policy == Policy::Pin && pinned.pinned.is_some() {
            // The chat keeps its persona; say once per new version that another one exists.
            let linked = resolved.persona().unwrap_or(&resolved.entry.id);
            if shown_id.is_empty() {
                shown_id = linked.to_owned();
                writeln!(
                    out,
                    "[session {} uses {} {linked} (pinned at revision {})]",
                    args.session,
                    persona.icon,
                    pinned.revision(policy)
                )?;
            }
            if pinned.newer() && noted != resolved.entry.revision() {
                resolved.entry.revision().clone_into(&mut noted);
                if resolved.fallback {
                    writeln!(
                        out,
                        "[{linked} no longer exists; this chat keeps the version it began with]"
                    )?;
                } else {
                    writeln!(
                        out,
                        "[{linked} changed since this chat began; /upgrade to switch]"
                    )?;
                }
            }
        } else if resolved.entry.id != shown_id {
            shown_id.clone_from(&resolved.entry.id);
            let how = match (resolved.fallback, resolved.persona()) {
                (true, None) => " (new session: the default persona)".to_owned(),
                (true, Some(gone)) => format!(" (fallback: `{gone}` no longer exists)"),
                (false, _) if resolved.via_alias => {
                    " (renamed: found through its aliases)".to_owned()
                }
                _ => String::new(),
            };
            writeln!(
                out,
                "[session {} uses {} {}{how}]",
                args.session, persona.icon, resolved.entry.id
            )?;
        }
        if policy == Policy::Follow && resolved.changed() {
            writeln!(
                out,
                "[note: {} changed since this session began]",
                resolved.entry.id
            )?;
        }
        // The final prompt: inheritance is already resolved; variables are filled in here.
        let vars = personas::Vars::today().with("user_name", args.user_name.as_str());
        let prompt = persona.render(&vars)?.system_prompt;
        history.push(json!({"role": "user", "content": line}));
        let reply = model.reply(persona, &prompt, &history)?;
        history.push(json!({"role": "assistant", "content": reply}));
        writeln!(out, "{} {}> {reply}", persona.icon, persona.name)?;
        write!(out, "you> ")?;
        out.flush()?;
    }
    writeln!(out)?;
    Ok(())
}

/// An OpenAI-compatible endpoint when `OPENAI_BASE_URL` is set, else an offline echo.
enum Model {
    Remote {
        base: String,
        key: Option<String>,
        name: String,
    },
    Echo,
}

impl Model {
    fn from_env() -> Self {
        match std::env::var("OPENAI_BASE_URL") {
            Ok(base) if !base.is_empty() => Model::Remote {
                base: base.trim_end_matches('/').to_owned(),
                key: std::env::var("OPENAI_API_KEY").ok(),
                name: std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into()),
            },
            _ => Model::Echo,
        }
    }

    fn reply(
        &self,
        persona: &personas::Persona,
        prompt: &str,
        history: &[Value],
    ) -> Result<String, Box<dyn std::error::Error>> {
        let (base, key, name) = match self {
            Model::Echo => {
                let last = history
                    .last()
                    .and_then(|m| m["content"].as_str())
                    .unwrap_or("");
                let first = prompt.lines().next().unwrap_or("");
                return Ok(format!(
                    "(offline echo; system prompt begins {first:?}) you said: {last}"
                ));
            }
            Model::Remote { base, key, name } => (base, key, name),
        };
        let mut messages = vec![json!({"role": "system", "content": prompt})];
        messages.extend(history.iter().cloned());
        let mut body = json!({"model": name, "messages": messages});
        let model = persona.model.as_ref();
        if let Some(t) = model.and_then(|m| m.temperature) {
            body["temperature"] = json!(t);
        }
        if let Some(n) = model.and_then(|m| m.max_tokens) {
            body["max_tokens"] = json!(n);
        }
        let mut request = ureq::post(&format!("{base}/chat/completions"));
        if let Some(key) = key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let response: Value = request.send_json(&body)?.into_body().read_json()?;
        Ok(response["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("(no reply)")
            .to_owned())
    }
}
