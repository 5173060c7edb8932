//! `obj add|put|get|ls|del|info`: Object Store buckets.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use natsws::jetstream::StorageType;
use natsws::object_store::{Config, ObjectInfo, ObjectMeta};

use crate::connect::ConnectArgs;
use crate::progress::{Progress, ProgressReader};
use crate::stream::Storage;
use crate::util::{confirm, human_bytes, parse_duration, parse_size, rfc3339};

#[derive(Subcommand)]
pub enum ObjVerb {
    /// Create a bucket
    #[command(alias = "new")]
    Add(AddArgs),
    /// Store a file (or standard input, with --name) as an object
    Put {
        /// Bucket name
        bucket: String,
        /// File to store; standard input when absent
        file: Option<PathBuf>,
        /// Object name (default: the file's name)
        #[arg(long)]
        name: Option<String>,
        /// A description
        #[arg(long)]
        description: Option<String>,
    },
    /// Fetch an object into a file (its name by default; `--output -` for stdout)
    Get {
        /// Bucket name
        bucket: String,
        /// Object name
        name: String,
        /// Where to write it
        #[arg(short = 'O', long)]
        output: Option<PathBuf>,
        /// Overwrite an existing file
        #[arg(short, long)]
        force: bool,
    },
    /// List the buckets, or the objects of BUCKET
    #[command(alias = "list")]
    Ls {
        /// Bucket name
        bucket: Option<String>,
        /// Print only the names
        #[arg(short, long)]
        names: bool,
    },
    /// Delete an object, or without NAME the whole bucket
    #[command(alias = "rm")]
    Del {
        /// Bucket name
        bucket: String,
        /// Object name
        name: Option<String>,
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
    },
    /// Show an object's info, or without NAME the bucket's
    #[command(alias = "status")]
    Info {
        /// Bucket name
        bucket: String,
        /// Object name
        name: Option<String>,
    },
}

/// `natsws obj add BUCKET`
#[derive(Args)]
pub struct AddArgs {
    /// Bucket name
    bucket: String,
    /// How long objects live (0: forever)
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    ttl: Duration,
    /// Number of replicas
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Most bytes the bucket holds
    #[arg(long, value_parser = parse_size)]
    max_bucket_size: Option<i64>,
    /// Where objects are kept
    #[arg(long, value_enum, default_value = "file")]
    storage: Storage,
    /// A description
    #[arg(long)]
    description: Option<String>,
}

pub fn run(conn: &ConnectArgs, verb: ObjVerb) -> crate::Result {
    let (nc, js) = conn.jetstream()?;
    match verb {
        ObjVerb::Add(a) => {
            let mut c = Config::new(a.bucket).ttl(a.ttl).storage(match a.storage {
                Storage::File => StorageType::File,
                Storage::Memory => StorageType::Memory,
            });
            c.replicas = a.replicas;
            if let Some(n) = a.max_bucket_size {
                c = c.max_bytes(n);
            }
            if let Some(d) = a.description {
                c = c.description(d);
            }
            let s = js.create_object_store(c)?.status()?;
            println!(
                "Bucket: {} ({}, {})",
                s.bucket(),
                s.backing_store(),
                human_bytes(s.size())
            );
        }
        ObjVerb::Put {
            bucket,
            file,
            name,
            description,
        } => {
            let store = js.object_store(&bucket)?;
            let name = match (&name, &file) {
                (Some(n), _) => n.clone(),
                (None, Some(f)) => file_name(f)?,
                (None, None) => return Err("--name is needed to store standard input".into()),
            };
            let mut meta = ObjectMeta::new(name.as_str());
            if let Some(d) = description {
                meta = meta.description(d);
            }
            let info = match &file {
                Some(path) => {
                    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
                    let size = f.metadata()?.len();
                    let bar = Progress::new(format!("put {name}"), size);
                    let mut r = ProgressReader { inner: f, bar };
                    let info = store.put(meta, &mut r)?;
                    r.bar.finish();
                    info
                }
                None => store.put(meta, &mut io::stdin().lock())?,
            };
            print_info(&info);
        }
        ObjVerb::Get {
            bucket,
            name,
            output,
            force,
        } => {
            let mut reader = js.object_store(&bucket)?.get(&name)?;
            let info = reader.info().clone();
            let path = match output {
                Some(p) => p,
                None => PathBuf::from(file_name(Path::new(&name))?),
            };
            let mut bar = Progress::new(format!("get {name}"), info.size);
            if path.as_os_str() == "-" {
                copy(&mut reader, &mut io::stdout().lock(), &mut bar)?;
                bar.finish();
            } else {
                if path.exists() && !force {
                    return Err(format!("{} exists; --force overwrites it", path.display()).into());
                }
                // Into a temporary file first: a failed or corrupt transfer leaves no half file.
                let tmp = path.with_extension("natsws-partial");
                let result = File::create(&tmp).and_then(|mut f| {
                    copy(&mut reader, &mut f, &mut bar)?;
                    f.sync_all()
                });
                if let Err(e) = result.and_then(|_| fs::rename(&tmp, &path)) {
                    let _ = fs::remove_file(&tmp);
                    return Err(e.into());
                }
                bar.finish();
                eprintln!("Wrote {} to {}", human_bytes(info.size), path.display());
            }
        }
        ObjVerb::Ls {
            bucket: Some(bucket),
            names,
        } => {
            let mut all = js
                .object_store(&bucket)?
                .list()?
                .collect::<natsws::Result<Vec<_>>>()?;
            if all.is_empty() {
                eprintln!("No objects in bucket {bucket}");
            }
            all.sort_by(|a, b| a.name.cmp(&b.name));
            for o in &all {
                if names {
                    println!("{}", o.name);
                } else {
                    let when = o.modified.map(rfc3339).unwrap_or_default();
                    println!("{}\t{}\t{when}", o.name, human_bytes(o.size));
                }
            }
        }
        ObjVerb::Ls { bucket: None, .. } => {
            let mut names = js
                .object_store_names()
                .collect::<natsws::Result<Vec<_>>>()?;
            names.sort();
            names.iter().for_each(|n| println!("{n}"));
        }
        ObjVerb::Del {
            bucket,
            name: Some(name),
            force,
        } => {
            confirm(&format!("object {name} of bucket {bucket}"), force)?;
            js.object_store(&bucket)?.delete(&name)?;
            eprintln!("Deleted {bucket} > {name}");
        }
        ObjVerb::Del {
            bucket,
            name: None,
            force,
        } => {
            confirm(&format!("bucket {bucket}"), force)?;
            js.delete_object_store(&bucket)?;
            eprintln!("Deleted bucket {bucket}");
        }
        ObjVerb::Info {
            bucket,
            name: Some(name),
        } => print_info(&js.object_store(&bucket)?.info(&name)?),
        ObjVerb::Info { bucket, name: None } => {
            let s = js.object_store(&bucket)?.status()?;
            println!("Bucket: {}", s.bucket());
            println!("  Size: {}", human_bytes(s.size()));
            println!("  Sealed: {}", s.sealed());
            println!("  Backing Store: {}", s.backing_store());
        }
    }
    Ok(nc.close()?)
}

/// The last path component, as the object or file name.
fn file_name(p: &Path) -> crate::Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| format!("'{}' has no file name; give --name", p.display()).into())
}

/// Copies an object out; the reader checks size and digest at its end.
fn copy(r: &mut impl Read, w: &mut impl Write, bar: &mut Progress) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return w.flush();
        }
        w.write_all(&buf[..n])?;
        bar.advance(n);
    }
}

fn print_info(o: &ObjectInfo) {
    println!("Object: {} > {}", o.bucket, o.name);
    if !o.description.is_empty() {
        println!("  Description: {}", o.description);
    }
    println!(
        "  Size: {} ({} bytes) in {} chunks",
        human_bytes(o.size),
        o.size,
        o.chunks
    );
    if let Some(d) = &o.digest {
        println!("  Digest: {d}");
    }
    if let Some(t) = o.modified {
        println!("  Modified: {}", rfc3339(t));
    }
}
