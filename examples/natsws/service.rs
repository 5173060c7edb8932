//! `service ls|ping|info|stats`: NATS services (the micro protocol), through natsws's
//! service client.

use clap::Subcommand;
use natsws::service::ServiceClient;

use crate::connect::ConnectArgs;

#[derive(Subcommand)]
pub enum ServiceVerb {
    /// List the services that answer (one line per service, with its instances)
    #[command(alias = "list")]
    Ls,
    /// Ping every service instance, or those of one service
    Ping {
        /// Service name
        service: Option<String>,
    },
    /// Show the endpoints of a service's instances
    Info {
        /// Service name
        service: String,
        /// One instance's id
        id: Option<String>,
        /// Print the answers as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the request statistics of a service's instances
    Stats {
        /// Service name
        service: String,
        /// One instance's id
        id: Option<String>,
        /// Print the answers as JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn run(conn: &ConnectArgs, verb: ServiceVerb) -> crate::Result {
    let nc = conn.connect()?;
    let client: ServiceClient = nc.services().client().max_wait(conn.timeout);
    match verb {
        ServiceVerb::Ls => {
            let mut found = client.info()?;
            if found.is_empty() {
                eprintln!("No services found");
            }
            found.sort_by(|a, b| (&a.name, &a.version, &a.id).cmp(&(&b.name, &b.version, &b.id)));
            for s in &found {
                println!("{}\t{}\t{}\t{}", s.name, s.version, s.id, s.description);
            }
        }
        ServiceVerb::Ping { service } => {
            let started = std::time::Instant::now();
            let mut found = match &service {
                Some(name) => client.ping_name(name)?,
                None => client.ping()?,
            };
            if found.is_empty() {
                return Err(match service {
                    Some(name) => format!("no instance of service {name} answered"),
                    None => "no service answered".to_string(),
                }
                .into());
            }
            found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
            for p in &found {
                println!("{}\t{}\t{}", p.name, p.version, p.id);
            }
            eprintln!("{} replies in {:?}", found.len(), started.elapsed());
        }
        ServiceVerb::Info { service, id, json } => {
            let found = match &id {
                Some(id) => vec![client.info_id(&service, id)?],
                None => client.info_name(&service)?,
            };
            if found.is_empty() {
                return Err(format!("no instance of service {service} answered").into());
            }
            for s in &found {
                if json {
                    println!("{}", serde_json::to_string_pretty(s)?);
                    continue;
                }
                println!("Service: {} {} ({})", s.name, s.version, s.id);
                if !s.description.is_empty() {
                    println!("  Description: {}", s.description);
                }
                for e in &s.endpoints {
                    println!(
                        "  Endpoint: {}  subject {}  queue group {}",
                        e.name, e.subject, e.queue_group
                    );
                }
            }
        }
        ServiceVerb::Stats { service, id, json } => {
            let found = match &id {
                Some(id) => vec![client.stats_id(&service, id)?],
                None => client.stats_name(&service)?,
            };
            if found.is_empty() {
                return Err(format!("no instance of service {service} answered").into());
            }
            for s in &found {
                if json {
                    println!("{}", serde_json::to_string_pretty(s)?);
                    continue;
                }
                println!(
                    "Service: {} {} ({}) started {}",
                    s.name, s.version, s.id, s.started
                );
                for e in &s.endpoints {
                    println!(
                        "  Endpoint: {}  requests {}  errors {}  average {:?}{}",
                        e.name,
                        e.num_requests,
                        e.num_errors,
                        e.average_processing_time,
                        if e.last_error.is_empty() {
                            String::new()
                        } else {
                            format!("  last error {}", e.last_error)
                        }
                    );
                }
            }
        }
    }
    Ok(nc.close()?)
}
