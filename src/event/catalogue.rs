//! The event types a Stream Video app can receive, which are the only `event_type`
//! label values besides `other`, so that a metric's label set stays closed.

/// Stream's 67 video event types plus the spec's two participant events, sorted.
pub const KNOWN_EVENT_TYPES: [&str; 69] = [
    "call.accepted",
    "call.blocked_user",
    "call.closed_caption",
    "call.closed_captions_failed",
    "call.closed_captions_started",
    "call.closed_captions_stopped",
    "call.created",
    "call.deleted",
    "call.dtmf",
    "call.ended",
    "call.frame_recording_failed",
    "call.frame_recording_ready",
    "call.frame_recording_started",
    "call.frame_recording_stopped",
    "call.hls_broadcasting_failed",
    "call.hls_broadcasting_started",
    "call.hls_broadcasting_stopped",
    "call.kicked_user",
    "call.live_started",
    "call.member_added",
    "call.member_removed",
    "call.member_updated",
    "call.member_updated_permission",
    "call.missed",
    "call.moderation_blur",
    "call.moderation_warning",
    "call.notification",
    "call.participant_joined",
    "call.participant_left",
    "call.permission_request",
    "call.permissions_updated",
    "call.reaction_new",
    "call.recording_failed",
    "call.recording_ready",
    "call.recording_started",
    "call.recording_stopped",
    "call.rejected",
    "call.ring",
    "call.rtmp_broadcast_failed",
    "call.rtmp_broadcast_started",
    "call.rtmp_broadcast_stopped",
    "call.session_ended",
    "call.session_participant_count_updated",
    "call.session_participant_joined",
    "call.session_participant_left",
    "call.session_started",
    "call.stats_report_ready",
    "call.transcription_failed",
    "call.transcription_ready",
    "call.transcription_started",
    "call.transcription_stopped",
    "call.unblocked_user",
    "call.updated",
    "call.user_feedback_submitted",
    "call.user_muted",
    "custom",
    "export.channels.error",
    "export.channels.success",
    "export.users.error",
    "export.users.success",
    "ingress.error",
    "ingress.started",
    "ingress.stopped",
    "user.banned",
    "user.deactivated",
    "user.deleted",
    "user.reactivated",
    "user.unbanned",
    "user.updated",
];

/// The label for types outside the catalogue (chat events, types Stream adds later).
pub const OTHER: &str = "other";

/// The metric label for an event type: itself if known, else `other`.
pub fn label_for(event_type: &str) -> &'static str {
    KNOWN_EVENT_TYPES
        .binary_search(&event_type)
        .map(|i| KNOWN_EVENT_TYPES[i])
        .unwrap_or(OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_and_unique_so_binary_search_works() {
        assert!(KNOWN_EVENT_TYPES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn known_types_label_as_themselves_and_others_as_other() {
        assert_eq!(label_for("call.created"), "call.created");
        assert_eq!(label_for("user.updated"), "user.updated");
        assert_eq!(label_for("message.new"), OTHER);
        assert_eq!(label_for("call.created "), OTHER);
    }
}
