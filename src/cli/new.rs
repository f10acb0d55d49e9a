//! `personactl new`: create a persona file from flags, or as a copy of another.

use std::path::PathBuf;

use personas::{ModelSettings, Persona, check_file};

use super::{Cli, CmdResult, Failure, Outcome, print, store_failure};

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new persona's id (its file will be DIR/ID.toml).
    id: String,
    /// Start from a copy of this persona (all fields but its aliases); flags override.
    #[arg(long, value_name = "ID")]
    from: Option<String>,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// One or two sentences on what it is for.
    #[arg(long)]
    description: Option<String>,
    /// An emoji or image reference.
    #[arg(long)]
    icon: Option<String>,
    /// The system prompt.
    #[arg(long, conflicts_with = "system_prompt_file")]
    system_prompt: Option<String>,
    /// Read the system prompt from a file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    system_prompt_file: Option<PathBuf>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// The first message shown to the user.
    #[arg(long)]
    greeting: Option<String>,
    /// A conversation starter (repeatable).
    #[arg(long = "starter", value_name = "TEXT")]
    starters: Vec<String>,
    /// Usable but not listed.
    #[arg(long)]
    hidden: bool,
    /// Position in pickers.
    #[arg(long, allow_negative_numbers = true)]
    order: Option<i32>,
    /// Sampling temperature (0–2).
    #[arg(long)]
    temperature: Option<f64>,
    /// Nucleus sampling (0–1).
    #[arg(long)]
    top_p: Option<f64>,
    /// Reply length limit in tokens.
    #[arg(long)]
    max_tokens: Option<u32>,
}

pub fn run(cli: &Cli, args: &Args) -> CmdResult {
    let store = super::store(cli);
    let mut persona = match &args.from {
        Some(from) => {
            let path = store
                .path_of(from)
                .map_err(|e| store_failure(e, false))?
                .ok_or_else(|| Failure::invalid(format!("no persona `{from}` to copy")))?;
            // A file with `extends` is copied resolved (its family applied).
            let resolved = || {
                personas::Catalog::load(&cli.dir)
                    .ok()
                    .and_then(|c| c.find(from).map(|e| (*e.persona).clone()))
            };
            let mut base = check_file(&path)
                .persona
                .map(|p| *p)
                .or_else(resolved)
                .ok_or_else(|| {
                    Failure::invalid(format!(
                        "persona `{from}` is invalid; run `personactl validate`"
                    ))
                })?;
            base.id = None;
            base.aliases.clear();
            base
        }
        None => {
            let missing: Vec<&str> = [
                ("--name", args.name.is_none()),
                ("--description", args.description.is_none()),
                ("--icon", args.icon.is_none()),
                (
                    "--system-prompt",
                    args.system_prompt.is_none() && args.system_prompt_file.is_none(),
                ),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(f, _)| *f)
            .collect();
            if !missing.is_empty() {
                return Err(Failure::new(format!("missing {}", missing.join(", ")))
                    .hint("give every required field, or copy another persona with --from ID"));
            }
            Persona::new("", "", "", "")
        }
    };
    override_fields(&mut persona, args)?;
    let path = store
        .create(&args.id, &persona)
        .map_err(|e| store_failure(e, true))?;
    print(|out| writeln!(out, "created {}", path.display()))?;
    Ok(Outcome::Success)
}

fn override_fields(p: &mut Persona, args: &Args) -> Result<(), Failure> {
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            field.clone_from(v);
        }
    };
    set(&mut p.name, &args.name);
    set(&mut p.description, &args.description);
    set(&mut p.icon, &args.icon);
    set(&mut p.system_prompt, &args.system_prompt);
    if let Some(file) = &args.system_prompt_file {
        p.system_prompt = if file.as_os_str() == "-" {
            super::read::capped_text(
                std::io::stdin(),
                super::read::MAX_TEXT_BYTES,
                "standard input",
            )?
        } else {
            super::read::file_text(file, super::read::MAX_TEXT_BYTES)?
        };
    }
    if !args.tags.is_empty() {
        p.tags.clone_from(&args.tags);
    }
    if !args.starters.is_empty() {
        p.starters.clone_from(&args.starters);
    }
    if args.greeting.is_some() {
        p.greeting.clone_from(&args.greeting);
    }
    p.hidden |= args.hidden;
    if args.order.is_some() {
        p.order = args.order;
    }
    if args.temperature.is_some() || args.top_p.is_some() || args.max_tokens.is_some() {
        let model = p.model.get_or_insert_with(ModelSettings::default);
        model.temperature = args.temperature.or(model.temperature);
        model.top_p = args.top_p.or(model.top_p);
        model.max_tokens = args.max_tokens.or(model.max_tokens);
    }
    Ok(())
}
