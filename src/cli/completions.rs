//! `trove completions SHELL` (clap_complete) and `trove man` (clap_mangen): both generated
//! from the same clap definition that parses the arguments, so they never drift from it.

use super::args::{CompletionsArgs, ManArgs};
use std::io::Write;

pub(crate) fn completions(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut command = super::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "trove", &mut out);
    out.flush()?;
    Ok(super::exit::OK)
}

pub(crate) fn man(args: ManArgs) -> anyhow::Result<i32> {
    let command = super::command();
    let Some(dir) = args.dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(command).render(&mut out)?;
        out.flush()?;
        return Ok(super::exit::OK);
    };
    if !dir.is_dir() {
        return Err(crate::Error::with_hint(
            crate::ErrorKind::Usage,
            format!("`{}` is not a folder", dir.display()),
            "create it first (e.g. mkdir -p ~/.local/share/man/man1)",
        )
        .into());
    }
    let mut written = 0;
    for (name, page) in pages(command) {
        let mut roff = Vec::new();
        clap_mangen::Man::new(page).render(&mut roff)?;
        let path = dir.join(format!("{name}.1"));
        crate::output::write_file(&path, &roff)?;
        written += 1;
    }
    eprintln!("wrote {written} man page(s) to {}", dir.display());
    Ok(super::exit::OK)
}

/// `trove` and every command under it, each named as its page is (`trove-cache-verify`).
fn pages(command: clap::Command) -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    let mut stack = vec![(command.get_name().to_string(), command)];
    while let Some((name, command)) = stack.pop() {
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let sub_name = format!("{name}-{}", sub.get_name());
            let page = sub
                .clone()
                .name(sub_name.clone())
                .display_name(sub_name.clone())
                .bin_name(sub_name.clone());
            stack.push((sub_name, page));
        }
        out.push((name, command));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
