//! `stream ls|info|add|rm`: JetStream streams.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use natsws::jetstream::{DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo};

use crate::connect::ConnectArgs;
use crate::util::{confirm, human_bytes, parse_duration, parse_size};

#[derive(Subcommand)]
pub enum StreamVerb {
    /// List the streams
    #[command(alias = "list")]
    Ls {
        /// Print only the names
        #[arg(short, long)]
        names: bool,
    },
    /// Show a stream's configuration and state
    Info {
        /// Stream name
        stream: String,
        /// Print the configuration as JSON
        #[arg(long)]
        json: bool,
    },
    /// Create a stream
    #[command(alias = "create")]
    Add(AddArgs),
    /// Delete a stream and its messages
    #[command(alias = "delete")]
    Rm {
        /// Stream name
        stream: String,
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

/// `--storage` (also of `kv add` and `obj add`).
#[derive(Clone, Copy, ValueEnum)]
pub enum Storage {
    File,
    Memory,
}

#[derive(Clone, Copy, ValueEnum)]
enum Retention {
    Limits,
    Interest,
    #[value(alias = "workqueue")]
    Work,
}

#[derive(Clone, Copy, ValueEnum)]
enum Discard {
    Old,
    New,
}

/// `natsws stream add NAME`
#[derive(Args)]
pub struct AddArgs {
    /// Stream name
    stream: String,
    /// Subjects the stream captures, comma separated or repeated (default: the stream name)
    #[arg(long, value_delimiter = ',')]
    subjects: Vec<String>,
    /// Where messages are kept
    #[arg(long, value_enum, default_value = "file")]
    storage: Storage,
    /// How long messages are kept
    #[arg(long, value_enum, default_value = "limits")]
    retention: Retention,
    /// What happens when a limit is reached
    #[arg(long, value_enum, default_value = "old")]
    discard: Discard,
    /// Most messages kept (-1: unlimited)
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    max_msgs: i64,
    /// Most messages kept per subject (-1: unlimited)
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    max_msgs_per_subject: i64,
    /// Most bytes kept, e.g. 1G (-1: unlimited)
    #[arg(long, default_value = "-1", value_parser = parse_size, allow_negative_numbers = true)]
    max_bytes: i64,
    /// Oldest message kept, e.g. 1h, 7d (0: unlimited)
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    max_age: Duration,
    /// Largest message accepted (-1: unlimited)
    #[arg(long, default_value = "-1", value_parser = parse_size, allow_negative_numbers = true)]
    max_msg_size: i64,
    /// Number of replicas (in a cluster)
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Window for duplicate detection by message id
    #[arg(long = "dupe-window", value_parser = parse_duration)]
    duplicate_window: Option<Duration>,
    /// A description
    #[arg(long)]
    description: Option<String>,
}

impl AddArgs {
    fn config(self) -> StreamConfig {
        let subjects = if self.subjects.is_empty() {
            vec![self.stream.clone()]
        } else {
            self.subjects
        };
        let mut c = StreamConfig::new(self.stream)
            .subjects(subjects)
            .storage(match self.storage {
                Storage::File => StorageType::File,
                Storage::Memory => StorageType::Memory,
            })
            .retention(match self.retention {
                Retention::Limits => RetentionPolicy::Limits,
                Retention::Interest => RetentionPolicy::Interest,
                Retention::Work => RetentionPolicy::WorkQueue,
            })
            .discard(match self.discard {
                Discard::Old => DiscardPolicy::Old,
                Discard::New => DiscardPolicy::New,
            })
            .max_msgs(self.max_msgs)
            .max_msgs_per_subject(self.max_msgs_per_subject)
            .max_age(self.max_age)
            .replicas(self.replicas);
        c.max_bytes = self.max_bytes;
        c.max_msg_size = self.max_msg_size;
        if let Some(w) = self.duplicate_window {
            c = c.duplicate_window(w);
        }
        if let Some(d) = self.description {
            c = c.description(d);
        }
        c
    }
}

pub fn run(conn: &ConnectArgs, verb: StreamVerb) -> crate::Result {
    let (nc, js) = conn.jetstream()?;
    match verb {
        StreamVerb::Ls { names: true } => {
            let mut names = js.stream_names().collect::<natsws::Result<Vec<_>>>()?;
            names.sort();
            names.iter().for_each(|n| println!("{n}"));
        }
        StreamVerb::Ls { names: false } => {
            let mut infos = js.streams().collect::<natsws::Result<Vec<_>>>()?;
            if infos.is_empty() {
                eprintln!("No streams defined");
            }
            infos.sort_by(|a, b| a.config.name.cmp(&b.config.name));
            for i in &infos {
                println!(
                    "{}\t{} messages\t{}\tsubjects: {}",
                    i.config.name,
                    i.state.messages,
                    human_bytes(i.state.bytes),
                    i.config.subjects.join(", ")
                );
            }
        }
        StreamVerb::Info { stream, json } => {
            let info = js.stream(&stream)?.cached_info().clone();
            if json {
                println!("{}", serde_json::to_string_pretty(&info.config)?);
            } else {
                print_info(&info);
            }
        }
        StreamVerb::Add(a) => {
            let info = js.create_stream(a.config())?.cached_info().clone();
            eprintln!("Stream {} was created", info.config.name);
            print_info(&info);
        }
        StreamVerb::Rm { stream, force } => {
            confirm(&format!("stream {stream}"), force)?;
            js.delete_stream(&stream)?;
            eprintln!("Stream {stream} deleted");
        }
    }
    Ok(nc.close()?)
}

fn print_info(i: &StreamInfo) {
    let c = &i.config;
    let limit = |n: i64| {
        if n < 0 {
            "unlimited".to_string()
        } else {
            n.to_string()
        }
    };
    println!("Stream: {}", c.name);
    if !c.description.is_empty() {
        println!("  Description: {}", c.description);
    }
    println!("  Subjects: {}", c.subjects.join(", "));
    println!(
        "  Storage: {:?}, Retention: {:?}, Discard: {:?}",
        c.storage, c.retention, c.discard
    );
    println!("  Replicas: {}", c.num_replicas);
    println!("  Maximum Messages: {}", limit(c.max_msgs));
    println!("  Maximum Per Subject: {}", limit(c.max_msgs_per_subject));
    println!("  Maximum Bytes: {}", limit(c.max_bytes));
    println!(
        "  Maximum Age: {}",
        if c.max_age.is_zero() {
            "unlimited".into()
        } else {
            format!("{:?}", c.max_age)
        }
    );
    println!("  Maximum Message Size: {}", limit(c.max_msg_size));
    println!("  Duplicate Window: {:?}", c.duplicate_window);
    let s = &i.state;
    println!("State:");
    println!("  Messages: {}", s.messages);
    println!("  Bytes: {}", human_bytes(s.bytes));
    println!("  First Sequence: {}", s.first_seq);
    println!("  Last Sequence: {}", s.last_seq);
    println!("  Active Consumers: {}", s.consumer_count);
    if let Some(leader) = i.cluster.as_ref().and_then(|c| c.leader.as_deref()) {
        println!("  Cluster Leader: {leader}");
    }
}
