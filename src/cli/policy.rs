//! `ringnova policy …`: oslo.policy's command-line tools for ringnova's rule engine.
//!
//! * `check` evaluates one rule name or expression for given credentials and target
//!   (`oslopolicy-checker`), or, with `--batch`, one JSON case per stdin line;
//! * `list` prints the effective rules (`oslopolicy-policy-generator`'s merged view);
//! * `sample` prints the commented sample file (`oslopolicy-sample-generator`).
//!
//! The rules are the server's: Nova's defaults with the policy files applied, from
//! `--policy FILE` or else from the configuration's `[oslo_policy]` options. This module
//! runs only in the short-lived tool process; it must never start a server, open the
//! database or write files. A decision is printed on stdout with exit status 0 whether it
//! allows or denies; bad arguments, unreadable files and malformed input give a message
//! on stderr and a non-zero status.
//!
//! # Batch input
//!
//! One JSON object per line:
//!
//! ```text
//! {"rule": "<expression>", "creds": {...}, "target": {...},
//!  "rules": {"<name>": "<check>", ...}, "default_rule": "default"}
//! ```
//!
//! `rule` is an expression (`"name": "<rule name>"` enforces a named rule instead);
//! `target`, `rules` (extra named rules for this case, over the loaded ones) and
//! `default_rule` (a string, or `null` for no fallback) are optional. Credentials are
//! oslo's `creds` dict: `user_id`, `project_id`, `system_scope`, `domain_id`,
//! `user_domain_id`, `project_domain_id` (strings or null), `roles` (strings),
//! `is_admin` (a boolean), and any other key (nested objects, arrays, strings,
//! integers, booleans, null) for generic checks. Target values are strings (numbers,
//! booleans and null are read as Python's `str()` of them).
//!
//! Each line's answer is one line: `allowed` or `denied` (with `--explain`, a denial from
//! a rule loop, a check that cannot be evaluated or a token of the wrong scope reads
//! `denied (…)`), or `error: …` for a line that is not a valid case; then the exit status
//! is 1 after all lines are answered.

use std::{
    borrow::Cow,
    io::{BufRead, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use simd_json::{BorrowedValue, StaticNode};
use typed_arena::Arena;

use crate::{
    config::{Config, Overrides},
    policy::{
        files::{notes, parse_rules},
        sample::{sample_yaml, ExtensionRules},
        Credentials, Denial, Enforcer, PolicyFiles, Target, Value,
    },
};

/// `ringnova policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCommand {
    /// Evaluate a rule or expression (allowed/denied), or a batch of cases from stdin.
    Check(CheckArgs),
    /// Print the effective rules as `name: check_str`, sorted by name.
    List(RulesArgs),
    /// Print a sample policy.yaml with every default, commented out.
    Sample,
}

/// Where the rules come from.
#[derive(Debug, clap::Args)]
struct RulesArgs {
    /// Policy file (YAML or JSON) applied over Nova's defaults; without it, the
    /// configuration's [oslo_policy] files are used.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Leave Nova's registered defaults out: only the file's rules exist (as a bare
    /// oslo.policy Enforcer has them).
    #[arg(long)]
    no_defaults: bool,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    rules: RulesArgs,
    /// A rule name, enforced as oslo's enforce(name) (an unknown name falls back to the
    /// default rule).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["expression", "batch"], required_unless_present_any = ["expression", "batch"])]
    rule: Option<String>,
    /// A rule expression, e.g. "role:admin or project_id:%(project_id)s".
    #[arg(long, value_name = "EXPR", conflicts_with = "batch")]
    expression: Option<String>,
    /// Credentials, a JSON file (oslo's creds dict).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "batch",
        conflicts_with = "batch"
    )]
    creds: Option<PathBuf>,
    /// Target, a JSON file (default: empty).
    #[arg(long, value_name = "FILE", conflicts_with = "batch")]
    target: Option<PathBuf>,
    /// Read one JSON case per line from stdin; answer one line each.
    #[arg(long)]
    batch: bool,
    /// Say why a denial happened when it was not a plain false (rule loop, check that
    /// cannot be evaluated, wrong token scope).
    #[arg(long)]
    explain: bool,
}

/// The policy rules of every compiled-in API extension, standard ones first, for the sample:
/// it does not depend on the configuration's selection.
fn extension_rules() -> Vec<ExtensionRules> {
    use crate::api::extensions::{optional_extensions, standard_extensions};
    let standard = standard_extensions().into_iter().map(|ext| (ext, true));
    let optional = optional_extensions().into_iter().map(|ext| (ext, false));
    standard
        .chain(optional)
        .map(|(ext, standard)| ExtensionRules {
            alias: ext.alias(),
            standard,
            rules: ext
                .policy_rules()
                .iter()
                .map(|rule| (rule.name, rule.check_str))
                .collect(),
        })
        .collect()
}

/// Runs `ringnova policy …`. `config_file` is the global `--config-file`.
pub fn run(args: PolicyArgs, config_file: Option<&Path>) -> ExitCode {
    let result = match args.command {
        PolicyCommand::Sample => {
            print(&sample_yaml(&extension_rules()));
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::List(rules) => list(&rules, config_file),
        PolicyCommand::Check(check) => run_check(&check, config_file),
    };
    result.unwrap_or_else(|err| {
        eprintln!("ringnova policy: {err}");
        ExitCode::from(2)
    })
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The rule sources: overrides in order, and the options to compile them with.
struct Source {
    overrides: Vec<(String, String)>,
    files: PolicyFiles,
    registered_defaults: bool,
}

impl Source {
    fn open(args: &RulesArgs, config_file: Option<&Path>) -> Result<Source, String> {
        let config = Config::load(config_file, &Overrides::default())
            .map_err(|err| format!("configuration error: {err}"))?;
        let mut files = config.policy;
        // The rules of the extensions the configuration loads are registered as the server
        // registers them.
        files.extra_defaults = crate::api::extensions::compiled(&config.extensions)
            .map_err(|err| format!("extension error: {err}"))?
            .policy_defaults();
        if let Some(path) = &args.policy {
            if !path.is_file() {
                return Err(format!("no policy file at {}", path.display()));
            }
            files.policy_file = path.clone();
            files.policy_dirs.clear();
        }
        let mut overrides = Vec::new();
        for path in files.paths().map_err(|err| err.to_string())? {
            let text = std::fs::read_to_string(&path)
                .map_err(|err| format!("cannot read policy file {}: {err}", path.display()))?;
            overrides.extend(parse_rules(&text, &path).map_err(|err| err.to_string())?);
        }
        Ok(Source {
            overrides,
            files,
            registered_defaults: !args.no_defaults,
        })
    }

    fn build<'a>(
        &'a self,
        extra: impl IntoIterator<Item = (&'a str, &'a str)>,
        default_rule: Option<&str>,
    ) -> Enforcer {
        Enforcer::builder()
            .with_registered_defaults(self.registered_defaults)
            .with_enforce_new_defaults(self.files.enforce_new_defaults)
            .with_default_rule(default_rule.unwrap_or(&self.files.default_rule))
            .with_overrides(
                self.overrides
                    .iter()
                    .map(|(n, c)| (n.as_str(), c.as_str()))
                    .chain(extra),
            )
            .with_extra_defaults(
                self.files
                    .extra_defaults
                    .iter()
                    .map(|(n, c)| (n.as_str(), c.as_str())),
            )
            .build()
    }
}

fn list(args: &RulesArgs, config_file: Option<&Path>) -> Result<ExitCode, String> {
    let source = Source::open(args, config_file)?;
    let enforcer = source.build([], None);
    for note in notes(&enforcer) {
        eprintln!("warning: {note}");
    }
    let mut names: Vec<&str> = enforcer.names().collect();
    names.sort_unstable();
    let mut out = String::new();
    for name in names {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(enforcer.check_str(name).unwrap_or_default());
        out.push('\n');
    }
    print(&out);
    Ok(ExitCode::SUCCESS)
}

fn run_check(args: &CheckArgs, config_file: Option<&Path>) -> Result<ExitCode, String> {
    let source = Source::open(&args.rules, config_file)?;
    if args.batch {
        return batch(&source, args.explain);
    }
    let enforcer = source.build([], None);
    let read_json = |path: &Path| -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    };
    let mut creds_json = match &args.creds {
        Some(path) => read_json(path)?,
        None => return Err("--creds is required".into()),
    };
    let mut target_json = match &args.target {
        Some(path) => read_json(path)?,
        None => b"{}".to_vec(),
    };
    let creds_value = simd_json::to_borrowed_value(&mut creds_json)
        .map_err(|err| format!("credentials are not JSON: {err}"))?;
    let target_value = simd_json::to_borrowed_value(&mut target_json)
        .map_err(|err| format!("target is not JSON: {err}"))?;
    let arena = Arenas::default();
    let creds = credentials(&creds_value, &arena).map_err(|err| format!("credentials: {err}"))?;
    let texts = target_texts(&target_value).map_err(|err| format!("target: {err}"))?;
    let target: Target<'_> = texts.iter().map(|(k, v)| (&**k, &**v)).collect();
    let outcome = match (&args.rule, &args.expression) {
        (Some(name), _) => enforcer.enforce_detailed(name, &creds, &target),
        (None, Some(expression)) => {
            let parsed = enforcer.compile_expression(expression);
            for warning in &parsed.warnings {
                eprintln!("warning: {warning}");
            }
            enforcer.check(&parsed.rule, &creds, &target)
        }
        (None, None) => return Err("give --rule NAME or --expression EXPR".into()),
    };
    print(&format!("{}\n", answer(outcome, args.explain)));
    Ok(ExitCode::SUCCESS)
}

fn answer(outcome: Result<bool, Denial>, explain: bool) -> Cow<'static, str> {
    match outcome {
        Ok(true) => "allowed".into(),
        Ok(false) => "denied".into(),
        Err(_) if !explain => "denied".into(),
        Err(Denial::TooDeep) => "denied (rule loop)".into(),
        Err(Denial::Scope) => "denied (token scope)".into(),
        Err(Denial::Unevaluable) => "denied (check cannot be evaluated)".into(),
        Err(Denial::Rule) => "denied".into(),
    }
}

fn batch(source: &Source, explain: bool) -> Result<ExitCode, String> {
    let base = source.build([], None);
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    let mut line = Vec::new();
    for (number, read) in stdin.split(b'\n').enumerate() {
        let read = read.map_err(|err| format!("cannot read stdin: {err}"))?;
        line.clear();
        line.extend_from_slice(&read);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match case(&mut line, source, &base) {
            Ok(outcome) => answer(outcome, explain),
            Err(err) => {
                failed = true;
                format!("error: line {}: {err}", number + 1).into()
            }
        };
        writeln!(out, "{text}").map_err(|err| format!("cannot write stdout: {err}"))?;
    }
    out.flush()
        .map_err(|err| format!("cannot write stdout: {err}"))?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Evaluates one batch line.
fn case(line: &mut [u8], source: &Source, base: &Enforcer) -> Result<Result<bool, Denial>, String> {
    let value = simd_json::to_borrowed_value(line).map_err(|err| format!("not JSON: {err}"))?;
    let BorrowedValue::Object(case) = &value else {
        return Err("a case must be a JSON object".into());
    };
    let arena = Arenas::default();
    let creds = match case.get("creds") {
        Some(creds) => credentials(creds, &arena).map_err(|err| format!("creds: {err}"))?,
        None => return Err("no \"creds\"".into()),
    };
    let texts = match case.get("target") {
        Some(target) => target_texts(target).map_err(|err| format!("target: {err}"))?,
        None => Vec::new(),
    };
    let target: Target<'_> = texts.iter().map(|(k, v)| (&**k, &**v)).collect();
    let default_rule = match case.get("default_rule") {
        None => None,
        Some(BorrowedValue::Static(StaticNode::Null)) => Some(""),
        Some(BorrowedValue::String(name)) => Some(&**name),
        Some(_) => return Err("\"default_rule\" must be a string or null".into()),
    };
    let mut extra = Vec::new();
    match case.get("rules") {
        None => {}
        Some(BorrowedValue::Object(rules)) => {
            for (name, check) in rules.iter() {
                let BorrowedValue::String(check) = check else {
                    return Err(format!("rule {name:?} is not a string"));
                };
                extra.push((&**name, &**check));
            }
        }
        Some(_) => return Err("\"rules\" must be an object of strings".into()),
    }
    let own;
    let enforcer = if extra.is_empty() && default_rule.is_none() {
        base
    } else {
        own = source.build(extra, default_rule);
        &own
    };
    match (case.get("rule"), case.get("name")) {
        (Some(BorrowedValue::String(expression)), None) => {
            let parsed = enforcer.compile_expression(expression);
            Ok(enforcer.check(&parsed.rule, &creds, &target))
        }
        (None, Some(BorrowedValue::String(name))) => {
            Ok(enforcer.enforce_detailed(name, &creds, &target))
        }
        _ => Err("give \"rule\" (an expression) or \"name\" (a rule name), as a string".into()),
    }
}

/// Storage for the credential values of one case.
#[derive(Default)]
struct Arenas<'a> {
    values: Arena<Value<'a>>,
    entries: Arena<(&'a str, Value<'a>)>,
}

/// oslo's creds dict as [`Credentials`].
fn credentials<'a>(
    json: &'a BorrowedValue<'a>,
    arena: &'a Arenas<'a>,
) -> Result<Credentials<'a>, String> {
    let BorrowedValue::Object(object) = json else {
        return Err("must be a JSON object".into());
    };
    let mut creds = Credentials::new();
    let mut extra = Vec::new();
    for (key, value) in object.iter() {
        let text = || -> Result<Option<&'a str>, String> {
            match value {
                BorrowedValue::String(text) => Ok(Some(&**text)),
                BorrowedValue::Static(StaticNode::Null) => Ok(None),
                _ => Err(format!("{key} must be a string or null")),
            }
        };
        match &**key {
            "user_id" => creds.user_id = text()?,
            "project_id" => creds.project_id = text()?,
            "system_scope" => creds.system_scope = text()?,
            "domain_id" => creds.domain_id = text()?,
            "user_domain_id" => creds.user_domain_id = text()?,
            "project_domain_id" => creds.project_domain_id = text()?,
            "is_admin" => match value {
                BorrowedValue::Static(StaticNode::Bool(flag)) => creds.is_admin = *flag,
                _ => return Err("is_admin must be true or false".into()),
            },
            "roles" => {
                let BorrowedValue::Array(roles) = value else {
                    return Err("roles must be a list of strings".into());
                };
                let mut names = Vec::with_capacity(roles.len());
                for role in roles.iter() {
                    let BorrowedValue::String(role) = role else {
                        return Err("roles must be a list of strings".into());
                    };
                    names.push(&**role);
                }
                creds = creds.with_roles(names);
            }
            other => extra.push((other, to_value(value, arena)?)),
        }
    }
    Ok(creds.with_extra(arena.entries.alloc_extend(extra)))
}

/// A JSON value as the Python value oslo would hold.
fn to_value<'a>(json: &'a BorrowedValue<'a>, arena: &'a Arenas<'a>) -> Result<Value<'a>, String> {
    Ok(match json {
        BorrowedValue::Static(StaticNode::Null) => Value::None,
        BorrowedValue::Static(StaticNode::Bool(flag)) => Value::Bool(*flag),
        BorrowedValue::Static(StaticNode::I64(n)) => Value::Int(*n),
        BorrowedValue::Static(StaticNode::U64(n)) => {
            Value::Int(i64::try_from(*n).map_err(|_| format!("{n} is too large"))?)
        }
        BorrowedValue::Static(_) => return Err("numbers with fractions are not supported".into()),
        BorrowedValue::String(text) => Value::Str(text),
        BorrowedValue::Array(items) => {
            let items = items
                .iter()
                .map(|item| to_value(item, arena))
                .collect::<Result<Vec<_>, _>>()?;
            Value::List(arena.values.alloc_extend(items))
        }
        BorrowedValue::Object(object) => {
            let entries = object
                .iter()
                .map(|(key, item)| Ok((&**key, to_value(item, arena)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Value::Map(arena.entries.alloc_extend(entries))
        }
    })
}

/// A target object as `key → str(value)`.
fn target_texts<'a>(json: &'a BorrowedValue<'a>) -> Result<Vec<(&'a str, Cow<'a, str>)>, String> {
    let BorrowedValue::Object(object) = json else {
        return Err("must be a JSON object".into());
    };
    object
        .iter()
        .map(|(key, value)| {
            let text: Cow<'a, str> = match value {
                BorrowedValue::String(text) => Cow::Borrowed(&**text),
                BorrowedValue::Static(StaticNode::Null) => "None".into(),
                BorrowedValue::Static(StaticNode::Bool(true)) => "True".into(),
                BorrowedValue::Static(StaticNode::Bool(false)) => "False".into(),
                BorrowedValue::Static(StaticNode::I64(n)) => n.to_string().into(),
                BorrowedValue::Static(StaticNode::U64(n)) => n.to_string().into(),
                _ => return Err(format!("{key} must be a string, integer, boolean or null")),
            };
            Ok((&**key, text))
        })
        .collect()
}
