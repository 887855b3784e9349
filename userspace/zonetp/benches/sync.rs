//! `make bench`: pushing zone policies into the kernel, side by side in one
//! run, reported as ratios. Each contender starts from an empty private
//! network namespace and creates the same objects:
//!
//! - zonetp batched: every request of a sync in datagrams of 64 (what
//!   `zonetp sync` does);
//! - zonetp one by one: one request and its ack per round trip (what
//!   ovs-vswitchd does, `nl_transact` per object);
//! - nfct: one `nfct add timeout` process per object (a shell script's way).
//!
//! Needs root (unshare). Timings are medians of several runs.

use std::process::Command;
use std::time::{Duration, Instant};

use zonetp::cttimeout::{CtTimeoutClient, CtTimeoutRequest, NewMode};
use zonetp::policy::TimeoutPolicy;

const POLICIES: u32 = 200; // 1200 objects
const RUNS: usize = 5;

fn requests() -> Vec<CtTimeoutRequest> {
    (1..=POLICIES)
        .flat_map(|id| {
            let p =
                TimeoutPolicy::parse(&[format!("udp_single={id}"), format!("tcp_established={}", id + 100)])
                    .unwrap();
            p.kernel_objects(id)
        })
        .map(|object| CtTimeoutRequest::New { object, mode: NewMode::CreateOrReplace })
        .collect()
}

/// Runs `f` in a fresh network namespace on its own thread; returns its time.
fn in_netns(f: impl FnOnce() -> Duration + Send + 'static) -> Duration {
    std::thread::spawn(move || {
        // unshare(2) changes only this thread's network namespace.
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            panic!("bench needs root: unshare(CLONE_NEWNET): {e}");
        }
        f()
    })
    .join()
    .unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn batched() -> Duration {
    in_netns(|| {
        let reqs = requests();
        let mut c = CtTimeoutClient::open().unwrap();
        let t = Instant::now();
        for r in c.batch(&reqs).unwrap() {
            r.unwrap();
        }
        let d = t.elapsed();
        assert_eq!(c.list().unwrap().len(), reqs.len());
        d
    })
}

fn one_by_one() -> Duration {
    in_netns(|| {
        let reqs = requests();
        let mut c = CtTimeoutClient::open().unwrap();
        let t = Instant::now();
        for r in &reqs {
            c.batch(std::slice::from_ref(r)).unwrap().pop().unwrap().unwrap();
        }
        let d = t.elapsed();
        assert_eq!(c.list().unwrap().len(), reqs.len());
        d
    })
}

fn nfct() -> Duration {
    in_netns(|| {
        let reqs = requests();
        let t = Instant::now();
        for r in &reqs {
            let CtTimeoutRequest::New { object, .. } = r else { unreachable!() };
            let mut args = vec![
                "add".to_owned(),
                "timeout".to_owned(),
                object.name.to_string(),
                if object.l3.0 == 2 { "inet" } else { "inet6" }.to_owned(),
                object.l4.to_string(),
            ];
            for (attr, secs) in &object.timeouts {
                args.push(object.l4.state_name(*attr).unwrap().to_owned());
                args.push(secs.to_string());
            }
            if object.timeouts.is_empty() {
                // nfct wants at least one state: give the default.
                args.extend(["timeout".to_owned(), "30".to_owned()]);
            }
            let ok = Command::new("nfct").args(&args).status().unwrap().success();
            assert!(ok, "nfct {args:?}");
        }
        t.elapsed()
    })
}

fn main() {
    // cargo bench passes --bench; nothing to filter here.
    let n = requests().len();
    println!("creating {n} cttimeout objects ({POLICIES} zone policies), median of {RUNS} runs each");
    let mut results = Vec::new();
    for (name, f) in [
        ("zonetp batched", batched as fn() -> Duration),
        ("zonetp one by one", one_by_one),
        ("nfct per object", nfct),
    ] {
        let runs = if name.starts_with("nfct") { 1 } else { RUNS };
        let d = median((0..runs).map(|_| f()).collect());
        println!(
            "  {name:<20} {:>10.2} ms  {:>8.1} us/object",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e6 / n as f64
        );
        results.push((name, d));
    }
    let base = results[0].1.as_secs_f64();
    println!("ratios (time / zonetp batched):");
    for (name, d) in &results {
        println!("  {name:<20} {:>8.2}x", d.as_secs_f64() / base);
    }
}
