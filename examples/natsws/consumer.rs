//! `consumer ls|info|add|rm`: JetStream consumers.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use natsws::jetstream::{AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, ReplayPolicy};

use crate::connect::ConnectArgs;
use crate::util::{confirm, parse_duration};

#[derive(Subcommand)]
pub enum ConsumerVerb {
    /// List a stream's consumers
    #[command(alias = "list")]
    Ls {
        /// Stream name
        stream: String,
        /// Print only the names
        #[arg(short, long)]
        names: bool,
    },
    /// Show a consumer's configuration and state
    Info {
        /// Stream name
        stream: String,
        /// Consumer name
        consumer: String,
        /// Print the configuration as JSON
        #[arg(long)]
        json: bool,
    },
    /// Create a durable consumer (pull unless --target is given)
    #[command(alias = "create")]
    Add(AddArgs),
    /// Delete a consumer
    #[command(alias = "delete")]
    Rm {
        /// Stream name
        stream: String,
        /// Consumer name
        consumer: String,
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Ack {
    Explicit,
    All,
    None,
}

#[derive(Clone, Copy, ValueEnum)]
enum Replay {
    Instant,
    Original,
}

/// `natsws consumer add STREAM NAME`
#[derive(Args)]
pub struct AddArgs {
    /// Stream name
    stream: String,
    /// Consumer (durable) name
    consumer: String,
    /// Only messages on these subjects, comma separated or repeated
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Acknowledgement policy
    #[arg(long, value_enum, default_value = "explicit")]
    ack: Ack,
    /// Where to start: all, last, new, last_per_subject, or a stream sequence number
    #[arg(long, default_value = "all")]
    deliver: String,
    /// Replay speed
    #[arg(long, value_enum, default_value = "instant")]
    replay: Replay,
    /// A pull consumer (the default; conflicts with --target)
    #[arg(long, conflicts_with = "target")]
    pull: bool,
    /// Push consumer: deliver the messages to this subject
    #[arg(long, value_name = "SUBJECT")]
    target: Option<String>,
    /// How long the server waits for an ack before redelivering
    #[arg(long = "wait", value_parser = parse_duration)]
    ack_wait: Option<Duration>,
    /// Most deliveries of a message (-1: unlimited)
    #[arg(long, allow_negative_numbers = true)]
    max_deliver: Option<i64>,
    /// Most unacknowledged messages
    #[arg(long = "max-pending")]
    max_ack_pending: Option<i64>,
    /// A description
    #[arg(long)]
    description: Option<String>,
}

impl AddArgs {
    fn config(self) -> crate::Result<ConsumerConfig> {
        let mut c = ConsumerConfig::durable(self.consumer).ack_policy(match self.ack {
            Ack::Explicit => AckPolicy::Explicit,
            Ack::All => AckPolicy::All,
            Ack::None => AckPolicy::None,
        });
        c = match self.deliver.as_str() {
            "all" => c.deliver_policy(DeliverPolicy::All),
            "last" => c.deliver_policy(DeliverPolicy::Last),
            "new" => c.deliver_policy(DeliverPolicy::New),
            "last_per_subject" | "subject" => c.deliver_policy(DeliverPolicy::LastPerSubject),
            seq => {
                let n: u64 = seq.parse().map_err(|_| {
                    format!("--deliver '{seq}': use all, last, new, last_per_subject or a sequence")
                })?;
                c.opt_start_seq = n;
                c.deliver_policy(DeliverPolicy::ByStartSequence)
            }
        };
        c.replay_policy = match self.replay {
            Replay::Instant => ReplayPolicy::Instant,
            Replay::Original => ReplayPolicy::Original,
        };
        match self.filter.as_slice() {
            [] => {}
            [one] => c = c.filter_subject(one.as_str()),
            many => c.filter_subjects = many.to_vec(),
        }
        if let Some(t) = self.target {
            c.deliver_subject = t;
        }
        if let Some(w) = self.ack_wait {
            c = c.ack_wait(w);
        }
        if let Some(n) = self.max_deliver {
            c = c.max_deliver(n);
        }
        if let Some(n) = self.max_ack_pending {
            c = c.max_ack_pending(n);
        }
        if let Some(d) = self.description {
            c = c.description(d);
        }
        Ok(c)
    }
}

pub fn run(conn: &ConnectArgs, verb: ConsumerVerb) -> crate::Result {
    let (nc, js) = conn.jetstream()?;
    match verb {
        ConsumerVerb::Ls { stream, names } => {
            let s = js.stream(&stream)?;
            if names {
                let mut names = s.consumer_names().collect::<natsws::Result<Vec<_>>>()?;
                names.sort();
                names.iter().for_each(|n| println!("{n}"));
            } else {
                let mut infos = s.consumers().collect::<natsws::Result<Vec<_>>>()?;
                if infos.is_empty() {
                    eprintln!("No consumers defined on stream {stream}");
                }
                infos.sort_by(|a, b| a.name.cmp(&b.name));
                for i in &infos {
                    println!(
                        "{}\t{} pending\t{} unacknowledged\tlast delivered {}",
                        i.name, i.num_pending, i.num_ack_pending, i.delivered.stream_seq
                    );
                }
            }
        }
        ConsumerVerb::Info {
            stream,
            consumer,
            json,
        } => {
            let info = js.consumer(&stream, &consumer)?.cached_info().clone();
            if json {
                println!("{}", serde_json::to_string_pretty(&info.config)?);
            } else {
                print_info(&info);
            }
        }
        ConsumerVerb::Add(a) => {
            let stream = a.stream.clone();
            let info = js
                .create_consumer(&stream, a.config()?)?
                .cached_info()
                .clone();
            eprintln!("Consumer {} > {} was created", info.stream_name, info.name);
            print_info(&info);
        }
        ConsumerVerb::Rm {
            stream,
            consumer,
            force,
        } => {
            confirm(&format!("consumer {stream} > {consumer}"), force)?;
            js.delete_consumer(&stream, &consumer)?;
            eprintln!("Consumer {stream} > {consumer} deleted");
        }
    }
    Ok(nc.close()?)
}

fn print_info(i: &ConsumerInfo) {
    let c = &i.config;
    println!("Consumer: {} > {}", i.stream_name, i.name);
    if !c.description.is_empty() {
        println!("  Description: {}", c.description);
    }
    if c.deliver_subject.is_empty() {
        println!("  Pull Mode: true");
    } else {
        println!("  Delivery Subject: {}", c.deliver_subject);
    }
    let filters = if c.filter_subjects.is_empty() {
        c.filter_subject.clone()
    } else {
        c.filter_subjects.join(", ")
    };
    if !filters.is_empty() {
        println!("  Filter Subject: {filters}");
    }
    println!("  Deliver Policy: {:?}", c.deliver_policy);
    println!("  Ack Policy: {:?}", c.ack_policy);
    println!("  Ack Wait: {:?}", c.ack_wait);
    println!("  Replay Policy: {:?}", c.replay_policy);
    println!("  Max Ack Pending: {}", c.max_ack_pending);
    println!("State:");
    println!(
        "  Last Delivered: consumer {} / stream {}",
        i.delivered.consumer_seq, i.delivered.stream_seq
    );
    println!(
        "  Acknowledgment Floor: consumer {} / stream {}",
        i.ack_floor.consumer_seq, i.ack_floor.stream_seq
    );
    println!("  Outstanding Acks: {}", i.num_ack_pending);
    println!("  Redelivered Messages: {}", i.num_redelivered);
    println!("  Unprocessed Messages: {}", i.num_pending);
    println!("  Waiting Pulls: {}", i.num_waiting);
}
