//! The executor: carries out a plan's actions against a backend, in plan order (which
//! is dependency order), and reports what happened to each.
//!
//! It makes no decisions of its own beyond the ones a plan leaves open at run time:
//! an action runs only if every action it depends on was applied in this run; a
//! failure skips its dependents (with the reason) while independent actions continue;
//! manual actions are reported as waiting on a person and their dependents are
//! skipped as blocked. Ids of objects created earlier in the run are filled into the
//! operations that refer to them by address.

use std::collections::HashMap;

use crate::backend::{Backend, BackendError};
use crate::live::Live;
use crate::plan::planner::observe;
use crate::plan::{Action, ActionStatus, ObjectRef, Operation, Plan};

/// What happened to one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionOutcome {
    Applied,
    Failed(String),
    /// Not attempted because a prerequisite failed or is blocked.
    Skipped(String),
    /// A manual step, or blocked behind one: waiting on a person.
    Waiting(String),
}

/// The result of an apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub results: Vec<(String, ActionOutcome)>,
}

impl ApplyReport {
    fn count(&self, f: impl Fn(&ActionOutcome) -> bool) -> usize {
        self.results.iter().filter(|(_, o)| f(o)).count()
    }

    pub fn applied(&self) -> usize {
        self.count(|o| matches!(o, ActionOutcome::Applied))
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
        let verdict = if self.failed() > 0 {
            "Apply failed"
        } else {
            "Apply complete"
        };
        format!(
            "{verdict}: {} applied, {} failed, {} skipped, {} waiting on a person.",
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
                ActionOutcome::Applied => format!("  applied  {address}\n"),
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

/// Progress callbacks, so the CLI can print as it goes.
pub trait ApplyObserver {
    fn started(&mut self, _action: &Action) {}
    fn finished(&mut self, _address: &str, _outcome: &ActionOutcome) {}
}

/// An observer that does nothing.
pub struct Silent;
impl ApplyObserver for Silent {}

/// Runs every action of `plan` that can run; never stops at the first failure.
pub fn execute_plan(
    plan: &Plan,
    backend: &mut dyn Backend,
    new_request_id: &mut dyn FnMut() -> String,
    observer: &mut dyn ApplyObserver,
) -> ApplyReport {
    let mut created: HashMap<String, String> = HashMap::new();
    let mut outcomes: HashMap<&str, ActionOutcome> = HashMap::new();
    let mut report = ApplyReport::default();
    for action in &plan.actions {
        let outcome = run_action(
            action,
            &outcomes,
            &mut created,
            backend,
            new_request_id,
            observer,
        );
        observer.finished(&action.address, &outcome);
        outcomes.insert(action.address.as_str(), outcome.clone());
        report.results.push((action.address.clone(), outcome));
    }
    report
}

fn run_action(
    action: &Action,
    outcomes: &HashMap<&str, ActionOutcome>,
    created: &mut HashMap<String, String>,
    backend: &mut dyn Backend,
    new_request_id: &mut dyn FnMut() -> String,
    observer: &mut dyn ApplyObserver,
) -> ActionOutcome {
    if action.status == ActionStatus::Manual || matches!(action.operation, Operation::Manual) {
        let reason = action
            .instructions
            .clone()
            .unwrap_or_else(|| "a person must act".to_owned());
        return ActionOutcome::Waiting(reason);
    }
    for dependency in &action.depends_on {
        match outcomes.get(dependency.as_str()) {
            Some(ActionOutcome::Applied) => {}
            Some(ActionOutcome::Waiting(_)) => {
                return ActionOutcome::Waiting(format!("blocked: waits for {dependency}"));
            }
            Some(ActionOutcome::Failed(_) | ActionOutcome::Skipped(_)) => {
                return ActionOutcome::Skipped(format!("{dependency} did not apply"));
            }
            None => return ActionOutcome::Skipped(format!("{dependency} is not in this plan")),
        }
    }
    let operation = match resolve(&action.operation, created) {
        Ok(operation) => operation,
        Err(error) => return ActionOutcome::Failed(error.to_string()),
    };
    observer.started(action);
    match backend.execute(&operation, &new_request_id()) {
        Ok(outcome) => {
            if let Some(id) = outcome.created_id {
                created.insert(action.address.clone(), id);
            }
            ActionOutcome::Applied
        }
        Err(error) => ActionOutcome::Failed(error.to_string()),
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
    let mut operation = operation.clone();
    match &mut operation {
        Operation::UpdateCustomer { customer, .. }
        | Operation::CreateSubscription { customer, .. }
        | Operation::UpdateSubscription { customer, .. }
        | Operation::ResetSupportContact { customer, .. } => *customer = fill(customer)?,
        Operation::SetSupportContact {
            customer,
            subscription,
            ..
        } => {
            *customer = fill(customer)?;
            *subscription = fill(subscription)?;
        }
        Operation::CreateReseller { .. } | Operation::CreateCustomer { .. } | Operation::Manual => {
        }
    }
    Ok(operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Outcome;
    use crate::plan::{ActionType, Summary};

    /// A backend that records operations and fails the ones whose address is listed.
    struct Scripted {
        fail_customer_domain: &'static str,
        executed: Vec<Operation>,
    }

    impl Backend for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn read_live(&mut self) -> Result<Live, BackendError> {
            Ok(Live::default())
        }
        fn execute(
            &mut self,
            operation: &Operation,
            _request_id: &str,
        ) -> Result<Outcome, BackendError> {
            self.executed.push(operation.clone());
            match operation {
                Operation::CreateCustomer { domain, .. } if domain == self.fail_customer_domain => {
                    Err(BackendError::Api {
                        request: "POST /v1/customers".into(),
                        status: 409,
                        code: 1003,
                        description: "domain taken".into(),
                    })
                }
                Operation::CreateCustomer { domain, .. } => Ok(Outcome {
                    created_id: Some(format!("id-of-{domain}")),
                }),
                _ => Ok(Outcome::default()),
            }
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

    #[test]
    fn failures_skip_dependents_manual_steps_wait_and_ids_flow_to_dependents() {
        let actions = vec![
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
        ];
        let plan = Plan {
            format_version: 1,
            backend: "scripted".into(),
            summary: Summary::of(&actions, 0),
            actions,
            unmanaged: vec![],
        };
        let mut backend = Scripted {
            fail_customer_domain: "bad.onmicrosoft.com",
            executed: vec![],
        };
        let mut ids = 0;
        let report = execute_plan(
            &plan,
            &mut backend,
            &mut || {
                ids += 1;
                format!("req-{ids}")
            },
            &mut Silent,
        );
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
        assert!(backend.executed.iter().any(|op| matches!(op,
            Operation::UpdateSubscription { customer, .. } if customer.id.as_deref() == Some("id-of-good.onmicrosoft.com"))));
        assert_eq!(
            report.summary_line(),
            "Apply failed: 2 applied, 1 failed, 1 skipped, 2 waiting on a person."
        );
    }
}
