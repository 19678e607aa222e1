//! The option table: every configuration option with its section, default and help text.
//!
//! Start-up only. This table is the single source of truth for option names and defaults;
//! `Config::load` reads through it and the configuration reference is generated from it.
//! Nova's names are used wherever Nova has the option; ringnova's own live in `[ringnova]`.
//!
//! It must never be bypassed: an option read anywhere else must be listed here first, with its
//! default and help text.

/// One configuration option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    /// INI section (`DEFAULT`, `api`, …).
    pub section: &'static str,
    /// Option name inside the section.
    pub name: &'static str,
    /// Default value as it would be written in the file ("" = unset).
    pub default: &'static str,
    /// One-line description.
    pub help: &'static str,
}

macro_rules! opts {
    ($( [$section:literal] $name:literal = $default:literal : $help:literal ;)*) => {
        /// Every option ringnova reads, in reference order.
        pub const OPTIONS: &[OptSpec] = &[
            $(OptSpec { section: $section, name: $name, default: $default, help: $help },)*
        ];
    };
}

opts! {
    ["DEFAULT"] "osapi_compute_listen" = "0.0.0.0": "IP address the compute API listens on.";
    ["DEFAULT"] "osapi_compute_listen_port" = "8774": "TCP port the compute API listens on.";
    ["DEFAULT"] "osapi_compute_workers" = "": "Worker threads, one per core; empty means the number of online CPUs.";
    ["api"] "auth_strategy" = "noauth2": "Which pipeline of an api-paste composite to use (noauth2, or token for the built-in identity endpoint).";
    ["api"] "max_limit" = "1000": "Most items a list returns in one page (limit is capped to it).";
    ["quota"] "instances" = "10": "Default instances per project; -1 is unlimited.";
    ["quota"] "cores" = "20": "Default instance cores (vCPUs) per project; -1 is unlimited.";
    ["quota"] "ram" = "51200": "Default megabytes of instance RAM per project; -1 is unlimited.";
    ["quota"] "metadata_items" = "128": "Default metadata items per instance; -1 is unlimited.";
    ["quota"] "injected_files" = "5": "Default injected files per instance; -1 is unlimited.";
    ["quota"] "injected_file_content_bytes" = "10240": "Default bytes per injected file; -1 is unlimited.";
    ["quota"] "injected_file_path_length" = "255": "Default length of an injected file path; -1 is unlimited.";
    ["quota"] "key_pairs" = "100": "Default key pairs per user; -1 is unlimited.";
    ["quota"] "server_groups" = "10": "Default server groups per project; -1 is unlimited.";
    ["quota"] "server_group_members" = "10": "Default servers per server group; -1 is unlimited.";
    ["quota"] "documents" = "100": "Default os-documents documents per project; -1 is unlimited.";
    ["DEFAULT"] "osapi_compute_extension" = "standard": "API extensions to load: standard (every standard compiled-in extension) or selective (only those in osapi_compute_ext_list, standard or optional); Nova's standard_extensions and select_extensions class paths are accepted too.";
    ["DEFAULT"] "osapi_compute_ext_list" = "": "Comma list of extension aliases loaded when osapi_compute_extension = selective (an unknown alias is a start-up error).";
    ["wsgi"] "api_paste_config" = "api-paste.ini": "Paste pipeline file, relative to the config file's directory; the embedded copy is used when no config file is read.";
    ["oslo_middleware"] "max_request_body_size" = "114688": "Largest request body accepted, in bytes (413 above it).";
    ["oslo_middleware"] "enable_proxy_headers_parsing" = "false": "Honour Forwarded / X-Forwarded-* headers (http_proxy_to_wsgi).";
    ["cors"] "allowed_origin" = "": "Comma list of origins allowed by CORS; empty disables CORS.";
    ["cors"] "allow_credentials" = "true": "Send Access-Control-Allow-Credentials.";
    ["cors"] "expose_headers" = "X-Auth-Token,X-Openstack-Request-Id,X-Subject-Token,X-Service-Token,X-OpenStack-Nova-API-Version,OpenStack-API-Version": "Headers exposed to CORS clients.";
    ["cors"] "max_age" = "3600": "Seconds a CORS preflight may be cached.";
    ["cors"] "allow_methods" = "GET,PUT,POST,DELETE,PATCH": "Methods allowed in CORS requests.";
    ["cors"] "allow_headers" = "X-Auth-Token,X-Openstack-Request-Id,X-Identity-Status,X-Roles,X-Service-Catalog,X-User-Id,X-Tenant-Id,X-OpenStack-Nova-API-Version,OpenStack-API-Version": "Headers allowed in CORS requests.";
    ["database"] "connection" = "": "Database location: sqlite:///relative/path, sqlite:////absolute/path (SQLAlchemy's form) or a plain file path; empty means ringnova.sqlite in data_dir. Only SQLite is supported.";
    ["database"] "synchronous" = "normal": "SQLite durability: normal (a commit survives a crash of ringnova; the last commits may be lost on power failure) or full (a write is acknowledged only once it is on disk; workers share one flush of the log instead of each waiting in its commit). off is refused.";
    ["database"] "busy_timeout" = "5": "Seconds a worker waits for another connection's write lock before the request fails (more than 0, at most 60).";
    ["ringnova"] "driver" = "auto": "I/O driver: auto (io_uring, falling back to epoll), uring or legacy (epoll).";
    ["ringnova"] "cpus" = "": "CPU list to pin workers to, e.g. 0-3,6; empty pins worker i to the i-th allowed CPU; 'off' disables pinning.";
    ["ringnova"] "backlog" = "1024": "listen(2) backlog of each worker's socket (capped by net.core.somaxconn).";
    ["ringnova"] "max_connections" = "1024": "Open connections per worker; beyond it new connections get 503 and are closed (32 refusals at most in progress per worker; past them a connection is closed without an answer).";
    ["ringnova"] "max_request_line" = "8192": "Longest request line in bytes (414 above it).";
    ["ringnova"] "max_header_size" = "16384": "Largest request head (request line and headers) in bytes (431 above it).";
    ["ringnova"] "max_headers" = "100": "Most header fields in a request (431 above it; at most 512).";
    ["ringnova"] "header_timeout" = "30": "Seconds allowed to receive a whole request head once it starts.";
    ["ringnova"] "body_timeout" = "60": "Seconds allowed between two reads of a request body.";
    ["ringnova"] "body_deadline" = "60": "Seconds allowed to receive a whole request body once its head has arrived, however steadily it trickles in (408 after it).";
    ["ringnova"] "keepalive_timeout" = "75": "Seconds an idle keep-alive connection is kept open.";
    ["ringnova"] "send_timeout" = "60": "Seconds allowed for a client to accept a batch of responses.";
    ["ringnova"] "shutdown_timeout" = "30": "Seconds in-flight requests may take to finish after SIGTERM/SIGINT/SIGQUIT.";
    ["ringnova"] "access_log" = "true": "Write one access-log line per request (formatted on the logging thread).";
    ["ringnova"] "log_level" = "info": "Least severe log level written: error, warn, info, debug.";
    ["ringnova"] "log_format" = "text": "Log and access-log line format: text (Nova-like lines), json (one JSON object per line) or logfmt (key=value pairs); each line carries the request id when there is one.";
    ["metrics"] "enabled" = "true": "Count requests per worker and serve them in the Prometheus text format at the URL map's /metrics mount (unauthenticated: expose it on a management network only); false answers 404 there and counts nothing.";
    ["ringnova"] "data_dir" = "data": "Directory for the SQLite database and other state.";
    ["oslo_policy"] "policy_file" = "policy.yaml": "Policy file (YAML or JSON, {rule: check string}), relative to the config file's directory; a missing file means Nova's defaults. Re-read within a second of a change.";
    ["oslo_policy"] "policy_dirs" = "policy.d": "Comma list of directories whose files (sorted by name, dot-files skipped) are applied over policy_file, relative to the config file's directory; missing ones are skipped.";
    ["oslo_policy"] "enforce_new_defaults" = "true": "Enforce the new (scoped, role-based) defaults only; false also accepts each rule's deprecated default.";
    ["oslo_policy"] "policy_default_rule" = "default": "The rule a rule: check falls back to when it names no rule; empty means no fallback (the check is false).";
    ["identity"] "bootstrap_file" = "": "Users, projects and role assignments created at start-up (auth_strategy = token), relative to the config file's directory; empty creates user admin in project admin with a random password printed once, when there are no users.";
    ["identity"] "token_expiration" = "3600": "Seconds an issued token stays valid (1 to 2592000).";
    ["identity"] "compute_endpoint" = "": "Compute URL in the token catalog; empty builds it from the request's scheme and Host plus /v2.1.";
    ["identity"] "public_endpoint" = "": "Identity URL in the token catalog and WWW-Authenticate; empty builds it from the request's scheme and Host plus /identity.";
    ["identity"] "region_name" = "RegionOne": "Region of the catalog's endpoints.";
    ["identity"] "max_active_keys" = "3": "Token signing keys kept by 'ringnova token rotate-key': the newest signs, all of them verify (2 to 32).";
    ["api"] "enable_instance_password" = "true": "Return the admin password (adminPass) from server create and rebuild.";
    ["DEFAULT"] "password_length" = "12": "Length of generated server admin passwords (3 to 255).";
    ["orchestrator"] "queue_size" = "1024": "Most orchestration tasks (builds, actions, deletes) admitted and not yet finished; beyond it a request that starts one more answers 503.";
    ["orchestrator"] "compute_driver" = "fake": "Compute driver the orchestration thread drives (only fake: a simulated hypervisor).";
    ["fake_driver"] "build_time" = "2": "Seconds a simulated build takes (scheduling, networking, spawning), 0 to 3600.";
    ["fake_driver"] "reboot_time" = "1": "Seconds a simulated soft or hard reboot takes.";
    ["fake_driver"] "power_time" = "1": "Seconds a simulated stop or start takes.";
    ["fake_driver"] "pause_time" = "0.5": "Seconds a simulated pause or unpause takes.";
    ["fake_driver"] "suspend_time" = "1": "Seconds a simulated suspend or resume takes.";
    ["fake_driver"] "resize_time" = "2": "Seconds a simulated resize (to VERIFY_RESIZE) or revert takes.";
    ["fake_driver"] "snapshot_time" = "1": "Seconds a simulated createImage snapshot takes.";
    ["fake_driver"] "rebuild_time" = "2": "Seconds a simulated rebuild takes.";
    ["fake_driver"] "delete_time" = "0.5": "Seconds a simulated termination takes.";
    ["fake_driver"] "fail_build_names" = "": "Regular expression: builds of servers whose name matches fail (vm_state error with a fault); empty means none fail.";
}

/// Looks up an option by section and name.
pub fn find(section: &str, name: &str) -> Option<&'static OptSpec> {
    OPTIONS
        .iter()
        .find(|opt| opt.section == section && opt.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert!(
                    a.section != b.section || a.name != b.name,
                    "duplicate {}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn find_locates_options() {
        assert_eq!(
            find("oslo_middleware", "max_request_body_size")
                .unwrap()
                .default,
            "114688"
        );
        assert!(find("DEFAULT", "nope").is_none());
        assert_eq!(find("database", "synchronous").unwrap().default, "normal");
    }
}
