//! One test per rule of the conversation domain.

use super::keyword::{classify, requested_opt_out, Keyword};
use super::status::{advances, merge_early, replaces_early, StatusReport};
use super::{dedupe, inbound, reply, ConversationState, Dedupe};
use switchboard_protocol::{DeliveryError, DeliveryStatus};

fn state(last_seq: u64, opted_out: bool) -> Option<ConversationState> {
    Some(ConversationState {
        last_seq,
        opted_out,
    })
}

#[test]
fn every_twilio_opt_out_keyword_opts_out() {
    for word in [
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
    ] {
        assert_eq!(classify(word), Some(Keyword::OptOut), "{word}");
        assert_eq!(requested_opt_out(word), Some(true), "{word}");
    }
}

#[test]
fn every_twilio_opt_in_keyword_opts_in() {
    for word in ["START", "YES", "UNSTOP", "OPTIN"] {
        assert_eq!(classify(word), Some(Keyword::OptIn), "{word}");
        assert_eq!(requested_opt_out(word), Some(false), "{word}");
    }
}

#[test]
fn help_is_a_keyword_that_changes_no_opt_out_state() {
    for word in ["HELP", "INFO", "help"] {
        assert_eq!(classify(word), Some(Keyword::Help), "{word}");
        assert_eq!(requested_opt_out(word), None, "{word}");
    }
    assert_eq!(inbound::apply(state(3, true), "HELP").opt_change, None);
    assert_eq!(inbound::apply(state(3, false), "info").opt_change, None);
}

#[test]
fn keywords_are_whole_messages_in_any_case_with_trailing_punctuation() {
    assert_eq!(classify("stop"), Some(Keyword::OptOut));
    assert_eq!(classify(" Stop. "), Some(Keyword::OptOut));
    assert_eq!(classify("STOP!"), Some(Keyword::OptOut));
    assert_eq!(classify("start"), Some(Keyword::OptIn));
    assert_eq!(classify("please stop calling"), None);
    assert_eq!(classify("stop it"), None);
    assert_eq!(classify(""), None);
    assert_eq!(classify("stopp"), None);
}

#[test]
fn dedupe_reports_the_stored_seq_and_does_nothing_else() {
    let mut ran = false;
    let decision = dedupe(Some(7), || ran = true);
    assert_eq!(decision, Dedupe::Duplicate(7));
    assert!(!ran, "a duplicate must not compute a new write");
    assert_eq!(dedupe(None, || 5), Dedupe::New(5));
}

#[test]
fn the_first_inbound_message_gets_seq_1_and_creates_the_conversation_opted_in() {
    let effect = inbound::apply(None, "hello");
    assert_eq!(effect.seq, 1);
    assert_eq!(effect.opt_change, None);
    assert_eq!(
        effect.apply_to(None),
        ConversationState {
            last_seq: 1,
            opted_out: false
        }
    );
}

#[test]
fn a_first_message_that_is_stop_creates_the_conversation_opted_out() {
    let effect = inbound::apply(None, "STOP");
    assert_eq!(effect.opt_change, Some(true));
    assert!(effect.apply_to(None).opted_out);
}

#[test]
fn an_inbound_message_takes_the_next_seq() {
    assert_eq!(inbound::apply(state(41, false), "hi").seq, 42);
    assert_eq!(inbound::apply(state(41, true), "hi").seq, 42);
}

#[test]
fn stop_opts_out_and_start_opts_back_in() {
    let effect = inbound::apply(state(2, false), "STOP");
    assert_eq!(effect.opt_change, Some(true));
    assert_eq!(
        effect.apply_to(state(2, false)),
        ConversationState {
            last_seq: 3,
            opted_out: true
        }
    );
    let effect = inbound::apply(state(3, true), "start");
    assert_eq!(effect.opt_change, Some(false));
    assert!(!effect.apply_to(state(3, true)).opted_out);
}

#[test]
fn a_keyword_asking_for_the_current_state_changes_nothing() {
    assert_eq!(inbound::apply(state(2, true), "STOP").opt_change, None);
    assert_eq!(inbound::apply(state(2, false), "START").opt_change, None);
    assert!(
        inbound::apply(state(2, true), "STOP")
            .apply_to(state(2, true))
            .opted_out
    );
}

#[test]
fn an_ordinary_message_keeps_the_opt_out_state() {
    let effect = inbound::apply(state(5, true), "are you there?");
    assert_eq!(effect.opt_change, None);
    assert!(effect.apply_to(state(5, true)).opted_out);
}

#[test]
fn only_opt_keywords_need_the_opt_out_state() {
    assert!(inbound::needs_opt_out_state("stop"));
    assert!(inbound::needs_opt_out_state("START"));
    assert!(!inbound::needs_opt_out_state("help"));
    assert!(!inbound::needs_opt_out_state("hello"));
}

#[test]
fn a_reply_to_an_unknown_conversation_is_refused() {
    assert_eq!(
        reply::apply(None, true),
        Err(reply::Refusal::UnknownConversation)
    );
    assert_eq!(
        reply::apply(None, false),
        Err(reply::Refusal::UnknownConversation)
    );
    assert_eq!(
        reply::refusal(None, true),
        Some(reply::Refusal::UnknownConversation)
    );
}

#[test]
fn a_reply_to_an_opted_out_customer_is_refused() {
    assert_eq!(
        reply::apply(state(4, true), true),
        Err(reply::Refusal::OptedOut)
    );
}

#[test]
fn a_note_or_event_after_stop_is_stored_all_the_same() {
    // Nothing reaches the customer, so STOP does not refuse it.
    assert_eq!(reply::apply(state(4, true), false), Ok(5));
    assert_eq!(reply::refusal(state(4, true), false), None);
}

#[test]
fn a_reply_takes_the_next_seq() {
    assert_eq!(reply::apply(state(4, false), true), Ok(5));
    assert_eq!(reply::refusal(state(4, false), true), None);
}

#[test]
fn statuses_only_move_forward() {
    use DeliveryStatus::*;
    assert!(advances(None, Sending));
    assert!(!advances(None, Queued));
    assert!(advances(Some(Sending), Sent));
    assert!(advances(Some(Sent), Delivered));
    assert!(advances(Some(Delivered), Read));
    assert!(!advances(Some(Delivered), Sent));
    assert!(!advances(Some(Sent), Sent));
    assert!(!advances(Some(Read), Delivered));
}

#[test]
fn the_first_final_status_wins_over_another_final_one() {
    use DeliveryStatus::*;
    assert!(!advances(Some(Delivered), Failed));
    assert!(!advances(Some(Failed), Undelivered));
    assert!(!advances(Some(Undelivered), Delivered));
}

#[test]
fn only_a_later_early_status_replaces_the_one_kept() {
    use DeliveryStatus::*;
    assert!(replaces_early(None, Sent));
    assert!(replaces_early(Some(Sent), Delivered));
    assert!(!replaces_early(Some(Delivered), Sent));
    assert!(!replaces_early(Some(Delivered), Failed));
}

#[test]
fn an_early_status_further_along_wins_when_the_sid_is_recorded() {
    let error = DeliveryError {
        code: Some(30003),
        message: "unreachable".into(),
    };
    let sending = StatusReport {
        status: DeliveryStatus::Sending,
        error: None,
    };
    let failed = StatusReport {
        status: DeliveryStatus::Failed,
        error: Some(error),
    };
    assert_eq!(
        merge_early(sending.clone(), Some(failed.clone())),
        failed,
        "the early status and its error are applied"
    );
    assert_eq!(merge_early(failed.clone(), Some(sending.clone())), failed);
    assert_eq!(merge_early(sending.clone(), None), sending);
}
