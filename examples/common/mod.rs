//! What the command-line examples share: options honouring `NATS_CA`, and UTF-8 arguments.

/// Default options, plus the CA in `$NATS_CA` if set.
pub fn options() -> natsws::Options {
    let opts = natsws::Options::new();
    match std::env::var_os("NATS_CA") {
        Some(path) if !path.is_empty() => opts.add_root_certificate(path),
        _ => opts,
    }
}

/// The command-line arguments after the program name; `None` if one is not valid UTF-8.
pub fn utf8_args() -> Option<Vec<String>> {
    std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect()
}
