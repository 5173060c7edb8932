//! `kv add|put|get|create|del|ls|watch|info`: Key-Value buckets.

use std::io::{self, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use natsws::jetstream::StorageType;
use natsws::kv::{Config, Entry, Operation, Status, WatchEvent};

use crate::connect::ConnectArgs;
use crate::stream::Storage;
use crate::util::{body_or_stdin, confirm, human_bytes, parse_duration, parse_size, rfc3339};

#[derive(Subcommand)]
pub enum KvVerb {
    /// Create a bucket
    #[command(alias = "new")]
    Add(AddArgs),
    /// Put a value (standard input when VALUE is absent and not a terminal)
    Put {
        /// Bucket name
        bucket: String,
        /// Key
        key: String,
        /// Value
        value: Option<String>,
    },
    /// Put a value only if the key has none
    Create {
        /// Bucket name
        bucket: String,
        /// Key
        key: String,
        /// Value
        value: Option<String>,
    },
    /// Print a key's value
    Get {
        /// Bucket name
        bucket: String,
        /// Key
        key: String,
        /// This revision instead of the latest
        #[arg(long)]
        revision: Option<u64>,
        /// Print only the value
        #[arg(short, long)]
        raw: bool,
    },
    /// Delete a key (its history stays), or without KEY the whole bucket
    #[command(alias = "rm")]
    Del {
        /// Bucket name
        bucket: String,
        /// Key
        key: Option<String>,
        /// Do not ask before deleting a bucket
        #[arg(short, long)]
        force: bool,
    },
    /// List the buckets, or the keys of BUCKET
    #[command(alias = "list")]
    Ls {
        /// Bucket name
        bucket: Option<String>,
        /// Print only the bucket names
        #[arg(short, long)]
        names: bool,
    },
    /// Print the current values, then every change (of keys matching KEY, default all)
    Watch {
        /// Bucket name
        bucket: String,
        /// Keys to watch (`*` for a token, a final `>` for the rest)
        #[arg(default_value = ">")]
        key: String,
        /// Exit after this many entries
        #[arg(long)]
        count: Option<u64>,
    },
    /// Show a bucket's configuration and state
    #[command(alias = "status")]
    Info {
        /// Bucket name
        bucket: String,
    },
}

/// `natsws kv add BUCKET`
#[derive(Args)]
pub struct AddArgs {
    /// Bucket name
    bucket: String,
    /// How many values to keep per key
    #[arg(long, default_value_t = 1)]
    history: u8,
    /// How long values live (0: forever)
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    ttl: Duration,
    /// Number of replicas
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Largest value accepted
    #[arg(long, value_parser = parse_size)]
    max_value_size: Option<i64>,
    /// Most bytes the bucket holds
    #[arg(long, value_parser = parse_size)]
    max_bucket_size: Option<i64>,
    /// Where values are kept
    #[arg(long, value_enum, default_value = "file")]
    storage: Storage,
    /// A description
    #[arg(long)]
    description: Option<String>,
}

impl AddArgs {
    fn config(self) -> crate::Result<Config> {
        let mut c = Config::new(self.bucket).history(self.history).ttl(self.ttl);
        c.replicas = self.replicas;
        c = c.storage(match self.storage {
            Storage::File => StorageType::File,
            Storage::Memory => StorageType::Memory,
        });
        if let Some(n) = self.max_value_size {
            c = c.max_value_size(i32::try_from(n).map_err(|_| "--max-value-size is too large")?);
        }
        if let Some(n) = self.max_bucket_size {
            c = c.max_bytes(n);
        }
        if let Some(d) = self.description {
            c = c.description(d);
        }
        Ok(c)
    }
}

pub fn run(conn: &ConnectArgs, verb: KvVerb) -> crate::Result {
    let (nc, js) = conn.jetstream()?;
    let mut out = io::stdout().lock();
    match verb {
        KvVerb::Add(a) => {
            let kv = js.create_key_value(a.config()?)?;
            print_status(&mut out, &kv.status()?)?;
        }
        KvVerb::Put { bucket, key, value } => {
            let value = body_or_stdin(value)?;
            let rev = js.key_value(&bucket)?.put(&key, &value)?;
            eprintln!("{bucket} > {key} revision {rev}");
        }
        KvVerb::Create { bucket, key, value } => {
            let value = body_or_stdin(value)?;
            let rev = js.key_value(&bucket)?.create(&key, &value)?;
            eprintln!("{bucket} > {key} revision {rev}");
        }
        KvVerb::Get {
            bucket,
            key,
            revision,
            raw,
        } => {
            let kv = js.key_value(&bucket)?;
            let e = match revision {
                Some(r) => kv.get_revision(&key, r)?,
                None => kv.get(&key)?,
            };
            if raw {
                out.write_all(&e.value)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{bucket} > {key} revision {} created {}\n",
                    e.revision,
                    rfc3339(e.created)
                )?;
                out.write_all(&e.value)?;
                writeln!(out)?;
            }
        }
        KvVerb::Del {
            bucket,
            key: Some(key),
            ..
        } => {
            js.key_value(&bucket)?.delete(&key)?;
            eprintln!("Deleted {bucket} > {key}");
        }
        KvVerb::Del {
            bucket,
            key: None,
            force,
        } => {
            confirm(&format!("bucket {bucket}"), force)?;
            js.delete_key_value(&bucket)?;
            eprintln!("Deleted bucket {bucket}");
        }
        KvVerb::Ls {
            bucket: Some(bucket),
            ..
        } => {
            let keys = js.key_value(&bucket)?.keys()?;
            if keys.is_empty() {
                eprintln!("No keys in bucket {bucket}");
            }
            for k in keys {
                writeln!(out, "{k}")?;
            }
        }
        KvVerb::Ls {
            bucket: None,
            names: true,
        } => {
            let mut names = js
                .key_value_store_names()
                .collect::<natsws::Result<Vec<_>>>()?;
            names.sort();
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
        KvVerb::Ls {
            bucket: None,
            names: false,
        } => {
            let mut all = js.key_value_stores().collect::<natsws::Result<Vec<_>>>()?;
            if all.is_empty() {
                eprintln!("No Key-Value buckets found");
            }
            all.sort_by(|a, b| a.bucket().cmp(b.bucket()));
            for s in &all {
                writeln!(
                    out,
                    "{}\t{} values\t{}\thistory {}",
                    s.bucket(),
                    s.values(),
                    human_bytes(s.bytes()),
                    s.history()
                )?;
            }
        }
        KvVerb::Watch { bucket, key, count } => {
            let mut w = js.key_value(&bucket)?.watch(&key)?;
            eprintln!("Watching {bucket} > {key}");
            let mut n = 0;
            while count != Some(n) {
                match w.next() {
                    Some(Ok(WatchEvent::Entry(e))) => {
                        print_entry(&mut out, &e)?;
                        n += 1;
                    }
                    Some(Ok(_)) => {} // the end of the initial values: nothing to show
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
        }
        KvVerb::Info { bucket } => print_status(&mut out, &js.key_value(&bucket)?.status()?)?,
    }
    drop(out);
    Ok(nc.close()?)
}

fn print_entry(out: &mut impl Write, e: &Entry) -> io::Result<()> {
    let op = match e.operation {
        Operation::Put => "PUT",
        Operation::Delete => "DEL",
        Operation::Purge => "PURGE",
        _ => "?",
    };
    write!(
        out,
        "[{}] {op} {} > {}: ",
        rfc3339(e.created),
        e.bucket,
        e.key
    )?;
    out.write_all(&e.value)?;
    writeln!(out)?;
    out.flush()
}

fn print_status(out: &mut impl Write, s: &Status) -> io::Result<()> {
    writeln!(out, "Bucket: {}", s.bucket())?;
    writeln!(out, "  History: {}", s.history())?;
    let ttl = s.ttl();
    writeln!(
        out,
        "  TTL: {}",
        if ttl.is_zero() {
            "forever".into()
        } else {
            format!("{ttl:?}")
        }
    )?;
    writeln!(out, "  Values: {}", s.values())?;
    writeln!(out, "  Size: {}", human_bytes(s.bytes()))?;
    writeln!(
        out,
        "  Backing Store: {} ({})",
        s.backing_store(),
        s.stream_info().config.name
    )
}
