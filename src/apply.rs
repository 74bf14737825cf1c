//! The executor: carries out a plan's actions against a backend, concurrently along
//! the dependency graph, and reports what happened to each.
//!
//! Scheduling is the only decision it makes, and it follows the plan's edges:
//! - an action starts once every action it depends on was applied in this run, and
//!   at most `parallelism` actions are in flight at once (ready actions start in
//!   plan order, so a run is as predictable as concurrency allows);
//! - a failure skips its dependents (with the reason) while independent actions go
//!   on; manual steps are reported as waiting on a person, and their dependents as
//!   blocked behind them (waiting, not failed);
//! - an interruption (Ctrl-C) stops new actions from starting and lets the ones in
//!   flight finish; a second interruption abandons them (the backend's journal
//!   covers what they had sent);
//! - past the run's deadline (`--timeout`) nothing new starts either; the actions in
//!   flight fail by themselves, as the backend's requests stop at the same moment.
//!
//! Ids of objects created earlier in the run are filled into the operations that
//! refer to them by address. The report lists actions in plan order whatever order
//! they finished in, so it is the same for the same outcomes. Events (started,
//! retried, finished) go to an [`ApplyObserver`] as they happen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::backend::{BackendError, Outcome, RetryNotice, with_retry_reporting};
use crate::live::Live;
use crate::plan::planner::observe;
use crate::plan::{Action, ActionStatus, ObjectRef, Operation, Plan};

/// Actions in flight at once against Partner Center unless told otherwise (`apply
/// --parallelism`): enough to hide its latency, few enough for its rate limits.
pub const DEFAULT_PARALLELISM: usize = 10;

/// Actions in flight at once against the local backend unless told otherwise: its
/// answers take microseconds and only wait for journal flushes, which the actions
/// in flight share, so more of them make fewer flushes.
pub const DEFAULT_LOCAL_PARALLELISM: usize = 64;

/// A boxed future a backend returns for one operation.
pub type OperationFuture = Pin<Box<dyn Future<Output = Result<Outcome, BackendError>> + Send>>;

/// A backend as the executor drives it: many operations at once, from many tasks.
pub trait Executor: Send + Sync + 'static {
    /// Starts one operation. `request_id` identifies it (Partner Center's
    /// `MS-RequestId`); the backend reuses it on every retry. A backend may derive
    /// an operation's id from the operation instead (a purchase's, so that every
    /// run sends the same purchase with the same id).
    fn start(self: Arc<Self>, operation: Operation, request_id: String) -> OperationFuture;
}

/// What happened to one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionOutcome {
    Applied,
    /// Nothing sent: someone else made the change since the plan (another run
    /// bought the subscription). A success: the object is as declared, or will be.
    DoneElsewhere(String),
    Failed(String),
    /// Not attempted because a prerequisite failed, or the apply was interrupted.
    Skipped(String),
    /// A manual step, or blocked behind one: waiting on a person.
    Waiting(String),
}

impl ActionOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionOutcome::Applied => "applied",
            ActionOutcome::DoneElsewhere(_) => "done_elsewhere",
            ActionOutcome::Failed(_) => "failed",
            ActionOutcome::Skipped(_) => "skipped",
            ActionOutcome::Waiting(_) => "waiting",
        }
    }

    /// The reason, for every outcome but `Applied`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ActionOutcome::Applied => None,
            ActionOutcome::DoneElsewhere(reason)
            | ActionOutcome::Failed(reason)
            | ActionOutcome::Skipped(reason)
            | ActionOutcome::Waiting(reason) => Some(reason),
        }
    }
}

/// The result of an apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Every action of the plan, in plan order.
    pub results: Vec<(String, ActionOutcome)>,
    /// Whether the apply was interrupted before every action could start.
    pub interrupted: bool,
    /// Whether the run's deadline passed before every action could start.
    pub stopped_at_deadline: bool,
    /// The tenant ids Partner Center gave the resellers this apply created whose
    /// manifests declare none, by address: known only from here (and `export`),
    /// the report names them to pin in the manifests.
    pub new_tenants: BTreeMap<String, String>,
}

impl ApplyReport {
    fn count(&self, f: impl Fn(&ActionOutcome) -> bool) -> usize {
        self.results.iter().filter(|(_, o)| f(o)).count()
    }

    pub fn applied(&self) -> usize {
        self.count(|o| matches!(o, ActionOutcome::Applied))
    }

    pub fn done_elsewhere(&self) -> usize {
        self.count(|o| matches!(o, ActionOutcome::DoneElsewhere(_)))
    }

    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, ActionOutcome::Failed(_)))
    }

    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, ActionOutcome::Skipped(_)))
    }

    pub fn waiting(&self) -> usize {
        self.count(|o| matches!(o, ActionOutcome::Waiting(_)))
    }

    /// `Apply complete: 3 applied, 0 failed, 0 skipped, 1 waiting on a person.`
    pub fn summary_line(&self) -> String {
        let verdict = if self.interrupted {
            "Apply interrupted"
        } else if self.stopped_at_deadline {
            "Apply stopped at the deadline (--timeout)"
        } else if self.failed() > 0 {
            "Apply failed"
        } else {
            "Apply complete"
        };
        // Shown only when it happened, so the usual line stays as it was.
        let elsewhere = match self.done_elsewhere() {
            0 => String::new(),
            n => format!(", {n} done elsewhere"),
        };
        format!(
            "{verdict}: {} applied{elsewhere}, {} failed, {} skipped, {} waiting on a person.",
            self.applied(),
            self.failed(),
            self.skipped(),
            self.waiting()
        )
    }

    /// A report line per action, then the summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (address, outcome) in &self.results {
            let line = match outcome {
                ActionOutcome::Applied => match self.new_tenants.get(address) {
                    Some(id) => format!(
                        "  applied  {address} (tenant id {id}; pin it as `spec.tenantId`)\n"
                    ),
                    _ => format!("  applied  {address}\n"),
                },
                ActionOutcome::DoneElsewhere(reason) => format!("  already  {address}: {reason}\n"),
                ActionOutcome::Failed(reason) => format!("  FAILED   {address}: {reason}\n"),
                ActionOutcome::Skipped(reason) => format!("  skipped  {address}: {reason}\n"),
                ActionOutcome::Waiting(reason) => format!("  waiting  {address}: {reason}\n"),
            };
            out.push_str(&line);
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }
}

/// Actions whose live object changed since the plan was made: (address, what changed).
pub fn stale_actions(plan: &Plan, live: &Live) -> Vec<(String, String)> {
    plan.actions
        .iter()
        .filter_map(|action| {
            let precondition = action.precondition.as_ref()?;
            let now = observe(live, &precondition.key);
            if now == precondition.fingerprint {
                return None;
            }
            let what = match (&precondition.fingerprint, &now) {
                (None, Some(_)) => "was created since the plan was made",
                (Some(_), None) => "no longer exists",
                _ => "changed since the plan was made",
            };
            Some((action.address.clone(), what.to_owned()))
        })
        .collect()
}

/// Progress callbacks, so the CLI can show an apply as it goes. Called from the
/// scheduling loop only, one at a time.
pub trait ApplyObserver {
    fn started(&mut self, _action: &Action) {}
    /// A request of a running action is being retried.
    fn retried(&mut self, _address: &str, _notice: &RetryNotice) {}
    fn finished(&mut self, _address: &str, _outcome: &ActionOutcome) {}
    /// The first interruption: nothing new starts; `in_flight` actions are finishing.
    fn interrupted(&mut self, _in_flight: usize) {}
}

/// An observer that does nothing.
pub struct Silent;
impl ApplyObserver for Silent {}

/// How an apply runs.
pub struct ApplyControl<'a> {
    /// Actions in flight at once (at least 1).
    pub parallelism: usize,
    /// A fresh request id per started action.
    pub new_request_id: &'a mut dyn FnMut() -> String,
    pub observer: &'a mut dyn ApplyObserver,
    /// Each message is an interruption: the first stops new actions from starting,
    /// the second abandons the ones in flight.
    pub interrupts: mpsc::UnboundedReceiver<()>,
    /// No action starts after this moment (the run's `--timeout`).
    pub deadline: Option<tokio::time::Instant>,
}

/// The scheduler's bookkeeping, free of I/O: which actions are ready, which are
/// decided, and what each outcome implies for the actions that depend on it.
struct Schedule<'p> {
    actions: &'p [Action],
    /// For each action, the indexes of the actions that depend on it.
    dependents: Vec<Vec<usize>>,
    /// For each action, how many of its prerequisites are not decided yet.
    undecided_prerequisites: Vec<usize>,
    outcomes: Vec<Option<ActionOutcome>>,
    /// Decided to run, not started yet; started lowest index (plan order) first.
    ready: BTreeSet<usize>,
    index: HashMap<&'p str, usize>,
    /// Ids of objects created in this run, by address.
    created: HashMap<String, String>,
}

impl<'p> Schedule<'p> {
    fn new(actions: &'p [Action]) -> Self {
        let index: HashMap<&str, usize> = actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.address.as_str(), i))
            .collect();
        let mut schedule = Schedule {
            actions,
            dependents: vec![Vec::new(); actions.len()],
            undecided_prerequisites: vec![0; actions.len()],
            outcomes: vec![None; actions.len()],
            ready: BTreeSet::new(),
            index,
            created: HashMap::new(),
        };
        let mut decided_now = Vec::new();
        for (i, action) in actions.iter().enumerate() {
            if is_manual(action) {
                let reason = action
                    .instructions
                    .clone()
                    .unwrap_or_else(|| "a person must act".to_owned());
                decided_now.push((i, ActionOutcome::Waiting(reason)));
                continue;
            }
            let mut missing = None;
            for dependency in &action.depends_on {
                match schedule.index.get(dependency.as_str()) {
                    Some(&d) => {
                        schedule.dependents[d].push(i);
                        schedule.undecided_prerequisites[i] += 1;
                    }
                    None => missing = missing.or(Some(dependency)),
                }
            }
            if let Some(dependency) = missing {
                decided_now.push((
                    i,
                    ActionOutcome::Skipped(format!("{dependency} is not in this plan")),
                ));
            } else if schedule.undecided_prerequisites[i] == 0 {
                schedule.ready.insert(i);
            }
        }
        for (i, outcome) in decided_now {
            schedule.decide(i, outcome);
        }
        schedule
    }

    /// Records an outcome and settles every dependent whose prerequisites are now
    /// all decided: ready when all were applied, otherwise skipped or waiting
    /// because of the first prerequisite (in the plan's order) that was not.
    /// Returns the indexes decided, `first` included.
    fn decide(&mut self, first: usize, outcome: ActionOutcome) -> Vec<usize> {
        let mut decided = Vec::new();
        let mut pending = vec![(first, outcome)];
        while let Some((i, outcome)) = pending.pop() {
            if self.outcomes[i].is_some() {
                continue;
            }
            self.outcomes[i] = Some(outcome);
            decided.push(i);
            for d in self.dependents[i].clone() {
                if self.outcomes[d].is_some() {
                    continue;
                }
                self.undecided_prerequisites[d] -= 1;
                if self.undecided_prerequisites[d] > 0 {
                    continue;
                }
                match self.blocking_outcome(d) {
                    None => {
                        self.ready.insert(d);
                    }
                    Some(outcome) => pending.push((d, outcome)),
                }
            }
        }
        decided
    }

    /// Why action `i` cannot run although its prerequisites are decided, if so.
    fn blocking_outcome(&self, i: usize) -> Option<ActionOutcome> {
        self.actions[i].depends_on.iter().find_map(|dependency| {
            let d = self.index[dependency.as_str()];
            match self.outcomes[d].as_ref() {
                Some(ActionOutcome::Applied) => None,
                // Bought by another run: what depends on it goes on once it has an id.
                Some(ActionOutcome::DoneElsewhere(_)) if self.created.contains_key(dependency) => {
                    None
                }
                Some(ActionOutcome::DoneElsewhere(_)) => Some(ActionOutcome::Waiting(format!(
                    "blocked: {dependency} is still being provisioned for another run; plan again once it is"
                ))),
                Some(ActionOutcome::Waiting(_)) => Some(ActionOutcome::Waiting(format!(
                    "blocked: waits for {dependency}"
                ))),
                Some(ActionOutcome::Failed(_) | ActionOutcome::Skipped(_)) | None => Some(
                    ActionOutcome::Skipped(format!("{dependency} did not apply")),
                ),
            }
        })
    }

    fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Every undecided action is skipped with `reason` (after an interruption or
    /// the deadline); returns their indexes.
    fn skip_undecided(&mut self, reason: &str) -> Vec<usize> {
        self.ready.clear();
        let mut skipped = Vec::new();
        for (i, outcome) in self.outcomes.iter_mut().enumerate() {
            if outcome.is_none() {
                *outcome = Some(ActionOutcome::Skipped(reason.to_owned()));
                skipped.push(i);
            }
        }
        skipped
    }

    fn report(self, interrupted: bool, stopped_at_deadline: bool) -> ApplyReport {
        ApplyReport {
            results: self
                .actions
                .iter()
                .zip(self.outcomes)
                .map(|(action, outcome)| {
                    let outcome = outcome.unwrap_or_else(|| {
                        // Unreachable when the plan's graph is acyclic (plans are
                        // checked when made and when read); said plainly otherwise.
                        ActionOutcome::Skipped("its prerequisites never finished".to_owned())
                    });
                    (action.address.clone(), outcome)
                })
                .collect(),
            interrupted,
            stopped_at_deadline,
            new_tenants: self
                .actions
                .iter()
                .filter(|a| {
                    matches!(&a.operation, Operation::CreateReseller { reseller }
                        if reseller.tenant_id.is_none())
                })
                .filter_map(|a| Some((a.address.clone(), self.created.get(&a.address)?.clone())))
                .collect(),
        }
    }
}

fn is_manual(action: &Action) -> bool {
    action.is_manual()
}

impl Action {
    /// A step a person takes (the executor reports it as waiting).
    pub fn is_manual(&self) -> bool {
        self.status == ActionStatus::Manual || matches!(self.operation, Operation::Manual)
    }
}

/// [`execute_plan`] unattended, for tools and tests that drive the executor
/// directly: no observer, no interruption, no deadline, and request ids counted
/// (`00000000-0000-4000-8000-000000000001`, …) rather than random, so the same
/// plan on the same state gives the same state.
pub async fn execute_unattended<E: Executor>(
    plan: &Plan,
    executor: Arc<E>,
    parallelism: usize,
) -> ApplyReport {
    let mut counter = 0u64;
    let mut new_request_id = || {
        counter += 1;
        format!("00000000-0000-4000-8000-{counter:012x}")
    };
    // The sender is dropped at once: nothing ever interrupts.
    let (_, interrupts) = mpsc::unbounded_channel();
    let control = ApplyControl {
        parallelism,
        new_request_id: &mut new_request_id,
        observer: &mut Silent,
        interrupts,
        deadline: None,
    };
    execute_plan(plan, executor, control).await
}

/// Runs every action of `plan` that can run; never stops at the first failure.
/// Must be called inside a tokio runtime.
pub async fn execute_plan<E: Executor>(
    plan: &Plan,
    executor: Arc<E>,
    control: ApplyControl<'_>,
) -> ApplyReport {
    let ApplyControl {
        parallelism,
        new_request_id,
        observer,
        mut interrupts,
        deadline,
    } = control;
    let parallelism = parallelism.max(1);
    let mut schedule = Schedule::new(&plan.actions);
    // Actions decided before anything runs (manual steps and what waits on them).
    for (i, outcome) in schedule.outcomes.iter().enumerate() {
        if let Some(outcome) = outcome {
            observer.finished(&plan.actions[i].address, outcome);
        }
    }
    let (retry_sender, mut retries) = mpsc::unbounded_channel::<(usize, RetryNotice)>();
    let mut running: JoinSet<(usize, Result<Outcome, BackendError>)> = JoinSet::new();
    let mut running_actions: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut interrupted = false;
    let mut interrupts_open = true;
    let mut deadline_passed = false;
    loop {
        while !interrupted && running.len() < parallelism {
            if deadline.is_some_and(|at| tokio::time::Instant::now() >= at) {
                deadline_passed = true;
                break;
            }
            let Some(i) = schedule.next_ready() else {
                break;
            };
            let action = &plan.actions[i];
            let operation = match resolve(&action.operation, &schedule.created) {
                Ok(operation) => operation,
                Err(error) => {
                    let outcome = ActionOutcome::Failed(error.to_string());
                    observer.finished(&action.address, &outcome);
                    decide_and_report(&mut schedule, i, outcome, observer);
                    continue;
                }
            };
            observer.started(action);
            let future = Arc::clone(&executor).start(operation, new_request_id());
            let task = with_retry_reporting(i, retry_sender.clone(), future);
            let handle = running.spawn(async move { (i, task.await) });
            running_actions.insert(handle.id(), i);
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (i, outcome) = match joined {
                    Ok((id, (i, result))) => {
                        running_actions.remove(&id);
                        match result {
                            Ok(done) => {
                                if let Some(id) = done.created_id {
                                    schedule.created.insert(plan.actions[i].address.clone(), id);
                                }
                                match done.done_elsewhere {
                                    Some(reason) => (i, ActionOutcome::DoneElsewhere(reason)),
                                    None => (i, ActionOutcome::Applied),
                                }
                            }
                            Err(error) => (i, ActionOutcome::Failed(error.to_string())),
                        }
                    }
                    Err(error) => {
                        let Some(i) = running_actions.remove(&error.id()) else { continue };
                        let reason = if error.is_cancelled() {
                            "abandoned by a second interruption while in flight; the next apply reads what it did".to_owned()
                        } else {
                            format!("internal error while applying (a bug in cspctl; please report it): {error}")
                        };
                        (i, ActionOutcome::Failed(reason))
                    }
                };
                observer.finished(&plan.actions[i].address, &outcome);
                decide_and_report(&mut schedule, i, outcome, observer);
            }
            Some((i, notice)) = retries.recv() => {
                observer.retried(&plan.actions[i].address, &notice);
            }
            signal = interrupts.recv(), if interrupts_open => {
                if signal.is_none() {
                    interrupts_open = false;
                } else if !interrupted {
                    interrupted = true;
                    observer.interrupted(running.len());
                } else {
                    running.abort_all();
                }
            }
            // Wakes the loop so nothing starts after the deadline; the actions in
            // flight end by themselves (their requests are bound by it too).
            () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                if deadline.is_some() && !deadline_passed => {
                deadline_passed = true;
            }
        }
    }
    // Retry notices still queued belong to actions that have finished; drop them.
    drop(retries);
    let not_started = if interrupted {
        "not started: the apply was interrupted"
    } else {
        "not started: the run's deadline (--timeout) passed"
    };
    let mut stopped_at_deadline = false;
    if interrupted || deadline_passed {
        for i in schedule.skip_undecided(not_started) {
            stopped_at_deadline = !interrupted;
            if let Some(outcome) = &schedule.outcomes[i] {
                observer.finished(&plan.actions[i].address, outcome);
            }
        }
    }
    schedule.report(interrupted, stopped_at_deadline)
}

/// Decides an action and tells the observer about dependents decided with it.
fn decide_and_report(
    schedule: &mut Schedule<'_>,
    i: usize,
    outcome: ActionOutcome,
    observer: &mut dyn ApplyObserver,
) {
    for j in schedule.decide(i, outcome) {
        if j != i
            && let Some(outcome) = &schedule.outcomes[j]
        {
            observer.finished(&schedule.actions[j].address, outcome);
        }
    }
}

/// Fills in ids of objects created earlier in this run.
fn resolve(
    operation: &Operation,
    created: &HashMap<String, String>,
) -> Result<Operation, BackendError> {
    let fill = |reference: &ObjectRef| -> Result<ObjectRef, BackendError> {
        match (&reference.id, created.get(&reference.address)) {
            (Some(_), _) => Ok(reference.clone()),
            (None, Some(id)) => Ok(ObjectRef {
                address: reference.address.clone(),
                id: Some(id.clone()),
            }),
            (None, None) => Err(BackendError::Unresolved(format!(
                "{} does not exist and was not created by this run",
                reference.address
            ))),
        }
    };
    // A reseller's tenant id that only its creation in this run tells.
    let fill_tenant = |tenant_id: &mut String, created_by: Option<&str>| {
        if !tenant_id.is_empty() {
            return Ok(());
        }
        match created_by.and_then(|address| created.get(address)) {
            Some(id) => {
                id.clone_into(tenant_id);
                Ok(())
            }
            None => Err(BackendError::Unresolved(format!(
                "{} was not created by this run, so its tenant id is unknown",
                created_by.unwrap_or("the reseller")
            ))),
        }
    };
    let mut operation = operation.clone();
    match &mut operation {
        Operation::UpdateCustomer { customer, .. }
        | Operation::CreateSubscription { customer, .. }
        | Operation::UpdateSubscription { customer, .. }
        | Operation::ResetSupportContact { customer, .. } => *customer = fill(customer)?,
        Operation::SetSupportContact {
            customer,
            subscription,
            reseller_tenant_id,
            reseller_created_by,
            ..
        } => {
            *customer = fill(customer)?;
            *subscription = fill(subscription)?;
            fill_tenant(reseller_tenant_id, reseller_created_by.as_deref())?;
        }
        Operation::CreateCustomer {
            associated_partner_id,
            associated_reseller,
            ..
        } => fill_tenant(associated_partner_id, associated_reseller.as_deref())?,
        Operation::CreateReseller { .. } | Operation::Manual => {}
    }
    Ok(operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::report_retry;
    use crate::plan::ActionType;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A backend that records operations, fails the customer whose domain is
    /// given, and takes `delay` per operation so concurrency shows.
    #[derive(Default)]
    struct Scripted {
        fail_customer_domain: &'static str,
        delay: Duration,
        executed: Mutex<Vec<Operation>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Executor for Scripted {
        fn start(self: Arc<Self>, operation: Operation, _request_id: String) -> OperationFuture {
            Box::pin(async move {
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                self.executed.lock().expect("lock").push(operation.clone());
                match &operation {
                    Operation::CreateCustomer { domain, .. }
                        if domain == self.fail_customer_domain =>
                    {
                        Err(BackendError::Api {
                            request: "POST /v1/customers".into(),
                            status: 409,
                            code: 1003,
                            description: "domain taken".into(),
                        })
                    }
                    Operation::CreateCustomer { domain, .. } => {
                        report_retry(RetryNotice {
                            request: "POST /v1/customers".into(),
                            reason: "HTTP 503".into(),
                            attempt: 1,
                            wait: Duration::from_millis(1),
                        });
                        Ok(Outcome {
                            created_id: Some(format!("id-of-{domain}")),
                            done_elsewhere: None,
                        })
                    }
                    _ => Ok(Outcome::default()),
                }
            })
        }
    }

    /// Records every event, in order.
    #[derive(Default)]
    struct Recorder {
        events: Vec<String>,
    }

    impl ApplyObserver for Recorder {
        fn started(&mut self, action: &Action) {
            self.events.push(format!("started {}", action.address));
        }
        fn retried(&mut self, address: &str, notice: &RetryNotice) {
            self.events
                .push(format!("retried {address} {}", notice.reason));
        }
        fn finished(&mut self, address: &str, outcome: &ActionOutcome) {
            self.events.push(format!("{} {address}", outcome.as_str()));
        }
        fn interrupted(&mut self, in_flight: usize) {
            self.events.push(format!("interrupted {in_flight}"));
        }
    }

    fn action(address: &str, depends_on: &[&str], operation: Operation) -> Action {
        let action_type = if matches!(operation, Operation::Manual) {
            ActionType::Manual
        } else {
            ActionType::Create
        };
        Action {
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
            ..Action::new(address.into(), None, action_type, operation)
        }
    }

    fn create_customer(domain: &str) -> Operation {
        Operation::CreateCustomer {
            domain: domain.into(),
            company_name: "X".into(),
            billing: serde_json::from_value(serde_json::json!({
                "email": "a@b.example", "culture": "en-US", "language": "en",
                "address": {"firstName": "A", "lastName": "B", "addressLine1": "L", "city": "C", "postalCode": "1", "country": "US"}
            }))
            .expect("billing"),
            organization_registration_number: None,
            associated_partner_id: "r".into(),
            associated_reseller: None,
            agreement: None,
        }
    }

    fn subscription_of(customer: &str) -> Operation {
        Operation::UpdateSubscription {
            customer: ObjectRef {
                address: customer.into(),
                id: None,
            },
            subscription_id: "s".into(),
            patch: Default::default(),
        }
    }

    fn plan_of(actions: Vec<Action>) -> Plan {
        Plan::new("scripted".into(), actions, vec![])
    }

    fn run(
        plan: &Plan,
        backend: &Arc<Scripted>,
        parallelism: usize,
        interrupts: mpsc::UnboundedReceiver<()>,
        observer: &mut Recorder,
    ) -> ApplyReport {
        run_until(plan, backend, parallelism, interrupts, observer, None)
    }

    /// [`run`] with a deadline `deadline` from now.
    fn run_until(
        plan: &Plan,
        backend: &Arc<Scripted>,
        parallelism: usize,
        interrupts: mpsc::UnboundedReceiver<()>,
        observer: &mut Recorder,
        deadline: Option<Duration>,
    ) -> ApplyReport {
        let deadline = deadline.map(|after| tokio::time::Instant::now() + after);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut ids = 0;
        let mut new_request_id = || {
            ids += 1;
            format!("req-{ids}")
        };
        runtime.block_on(execute_plan(
            plan,
            Arc::clone(backend),
            ApplyControl {
                parallelism,
                new_request_id: &mut new_request_id,
                observer,
                interrupts,
                deadline,
            },
        ))
    }

    fn no_interrupts() -> mpsc::UnboundedReceiver<()> {
        mpsc::unbounded_channel().1
    }

    #[test]
    fn failures_skip_dependents_manual_steps_wait_and_ids_flow_to_dependents() {
        let plan = plan_of(vec![
            action("Customer/bad", &[], create_customer("bad.onmicrosoft.com")),
            action(
                "Customer/good",
                &[],
                create_customer("good.onmicrosoft.com"),
            ),
            action(
                "Subscription/bad-1",
                &["Customer/bad"],
                subscription_of("Customer/bad"),
            ),
            action(
                "Subscription/good-1",
                &["Customer/good"],
                subscription_of("Customer/good"),
            ),
            action(
                "Relationship/good/r2",
                &["Customer/good"],
                Operation::Manual,
            ),
            action(
                "SupportContact/x",
                &["Relationship/good/r2"],
                subscription_of("Customer/good"),
            ),
        ]);
        let backend = Arc::new(Scripted {
            fail_customer_domain: "bad.onmicrosoft.com",
            ..Scripted::default()
        });
        let mut recorder = Recorder::default();
        let report = run(&plan, &backend, 10, no_interrupts(), &mut recorder);
        let outcomes: Vec<(&str, &ActionOutcome)> = report
            .results
            .iter()
            .map(|(a, o)| (a.as_str(), o))
            .collect();
        assert!(
            matches!(outcomes[0], ("Customer/bad", ActionOutcome::Failed(reason)) if reason.contains("1003"))
        );
        assert_eq!(outcomes[1], ("Customer/good", &ActionOutcome::Applied));
        assert!(
            matches!(outcomes[2], ("Subscription/bad-1", ActionOutcome::Skipped(reason)) if reason.contains("Customer/bad"))
        );
        assert_eq!(
            outcomes[3],
            ("Subscription/good-1", &ActionOutcome::Applied)
        );
        assert!(matches!(outcomes[4].1, ActionOutcome::Waiting(_)));
        assert!(
            matches!(outcomes[5].1, ActionOutcome::Waiting(reason) if reason.contains("Relationship/good/r2"))
        );
        assert_eq!(
            (
                report.applied(),
                report.failed(),
                report.skipped(),
                report.waiting()
            ),
            (2, 1, 1, 2)
        );
        // The subscription of the customer created in this run got the new id.
        assert!(backend.executed.lock().expect("lock").iter().any(|op| matches!(op,
            Operation::UpdateSubscription { customer, .. } if customer.id.as_deref() == Some("id-of-good.onmicrosoft.com"))));
        assert_eq!(
            report.summary_line(),
            "Apply failed: 2 applied, 1 failed, 1 skipped, 2 waiting on a person."
        );
        // Every action is reported exactly once, and the retry reached the observer
        // under the action that made it.
        for (address, _) in &report.results {
            let finished = recorder
                .events
                .iter()
                .filter(|e| {
                    !e.starts_with("started")
                        && !e.starts_with("retried")
                        && e.ends_with(&format!(" {address}"))
                })
                .count();
            assert_eq!(finished, 1, "{address}: {:?}", recorder.events);
        }
        assert!(
            recorder
                .events
                .contains(&"retried Customer/good HTTP 503".to_owned())
        );
        // A dependent starts only after its prerequisite finished.
        let position = |event: &str| {
            recorder
                .events
                .iter()
                .position(|e| e == event)
                .expect(event)
        };
        assert!(position("applied Customer/good") < position("started Subscription/good-1"));
    }

    #[test]
    fn independent_actions_run_concurrently_up_to_the_parallelism() {
        let actions: Vec<Action> = (0..12)
            .map(|i| {
                action(
                    &format!("Customer/c{i}"),
                    &[],
                    create_customer(&format!("c{i}.onmicrosoft.com")),
                )
            })
            .collect();
        let plan = plan_of(actions);
        for parallelism in [1, 4] {
            let backend = Arc::new(Scripted {
                delay: Duration::from_millis(20),
                ..Scripted::default()
            });
            let report = run(
                &plan,
                &backend,
                parallelism,
                no_interrupts(),
                &mut Recorder::default(),
            );
            assert_eq!(report.applied(), 12);
            assert_eq!(
                backend.most_in_flight.load(Ordering::SeqCst),
                parallelism,
                "never more than --parallelism in flight, and that many when enough are ready"
            );
        }
    }

    #[test]
    fn nothing_starts_after_the_deadline() {
        let plan = plan_of(vec![
            action("Customer/a", &[], create_customer("a.onmicrosoft.com")),
            action("Customer/b", &[], create_customer("b.onmicrosoft.com")),
        ]);
        let backend = Arc::new(Scripted::default());
        let mut recorder = Recorder::default();
        let report = run_until(
            &plan,
            &backend,
            2,
            no_interrupts(),
            &mut recorder,
            Some(Duration::ZERO),
        );
        assert!(
            !recorder.events.iter().any(|e| e.starts_with("started")),
            "{:?}",
            recorder.events
        );
        for (_, outcome) in &report.results {
            assert_eq!(
                outcome,
                &ActionOutcome::Skipped(
                    "not started: the run's deadline (--timeout) passed".into()
                )
            );
        }
        assert!(report.stopped_at_deadline && !report.interrupted);
        assert!(
            report
                .summary_line()
                .starts_with("Apply stopped at the deadline (--timeout): 0 applied")
        );
    }

    #[test]
    fn an_interruption_lets_in_flight_actions_finish_and_starts_nothing_new() {
        let actions: Vec<Action> = (0..6)
            .map(|i| {
                action(
                    &format!("Customer/c{i}"),
                    &[],
                    create_customer(&format!("c{i}.onmicrosoft.com")),
                )
            })
            .collect();
        let plan = plan_of(actions);
        let backend = Arc::new(Scripted {
            delay: Duration::from_millis(200),
            ..Scripted::default()
        });
        let (sender, interrupts) = mpsc::unbounded_channel();
        // Sent before the run starts: delivered once the first two are in flight.
        sender.send(()).expect("send");
        let mut recorder = Recorder::default();
        let report = run(&plan, &backend, 2, interrupts, &mut recorder);
        assert!(report.interrupted);
        assert_eq!(report.applied(), 2, "{:?}", report.results);
        assert_eq!(report.skipped(), 4);
        assert!(
            report.results[5].1
                == ActionOutcome::Skipped("not started: the apply was interrupted".into())
        );
        assert!(recorder.events.contains(&"interrupted 2".to_owned()));
        assert!(recorder.events.contains(&"skipped Customer/c5".to_owned()));
        assert!(
            report
                .summary_line()
                .starts_with("Apply interrupted: 2 applied")
        );
    }

    #[test]
    fn a_second_interruption_abandons_actions_in_flight() {
        let plan = plan_of(vec![action(
            "Customer/slow",
            &[],
            create_customer("slow.onmicrosoft.com"),
        )]);
        let backend = Arc::new(Scripted {
            delay: Duration::from_secs(30),
            ..Scripted::default()
        });
        let (sender, interrupts) = mpsc::unbounded_channel();
        sender.send(()).expect("send");
        sender.send(()).expect("send");
        let report = run(&plan, &backend, 2, interrupts, &mut Recorder::default());
        assert!(report.interrupted);
        assert!(
            matches!(&report.results[0].1, ActionOutcome::Failed(reason) if reason.contains("abandoned")),
            "{:?}",
            report.results
        );
        assert!(backend.executed.lock().expect("lock").is_empty());
    }
}
