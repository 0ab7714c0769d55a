from django.urls import path

from referrals.views import board, facts, follow_up, handoff, lead, queue, screen

app_name = "referrals"

urlpatterns = [
    path("queue/", queue.queue, name="queue"),
    path("board/", board.board, name="board"),
    path("screen/", screen.screen, name="screen"),
    path("board/move/", board.board_move, name="board_move"),
    path("leads/<int:pk>/", lead.lead, name="lead"),
    path("leads/<int:pk>/ineligible/", lead.lead_ineligible, name="lead_ineligible"),
    path("leads/<int:pk>/transition/", lead.lead_transition, name="lead_transition"),
    path("leads/<int:pk>/assign/", lead.lead_assign, name="lead_assign"),
    path("leads/<int:pk>/next-action/", lead.lead_next_action, name="lead_next_action"),
    path("leads/<int:pk>/notes/", lead.lead_note, name="lead_note"),
    path("leads/<int:pk>/tasks/", lead.lead_task, name="lead_task"),
    path("leads/<int:pk>/tasks/<int:task_pk>/done/", lead.lead_task_done, name="lead_task_done"),
    path("leads/<int:pk>/screenings/", lead.lead_screening, name="lead_screening"),
    path("leads/<int:pk>/target/", lead.lead_target, name="lead_target"),
    path("leads/<int:pk>/lines/", lead.lead_line, name="lead_line"),
    path("leads/<int:pk>/merge/", lead.lead_merge, name="lead_merge"),
    path("leads/<int:pk>/facts/", facts.lead_fact, name="lead_fact"),
    path("leads/<int:pk>/overrides/", facts.lead_override, name="lead_override"),
    path(
        "leads/<int:pk>/overrides/withdraw/",
        facts.lead_override_clear,
        name="lead_override_clear",
    ),
    path("leads/<int:pk>/documents/", lead.lead_document_upload, name="lead_document_upload"),
    path("leads/<int:pk>/documents/<int:document_pk>/", lead.lead_document, name="lead_document"),
    path("leads/<int:pk>/packet/", handoff.lead_packet, name="lead_packet"),
    path("leads/<int:pk>/packet.pdf", handoff.lead_packet_pdf, name="lead_packet_pdf"),
    path("leads/<int:pk>/packet/send/", handoff.lead_packet_send, name="lead_packet_send"),
    path("leads/<int:pk>/fhir.json", handoff.lead_fhir, name="lead_fhir"),
    path("leads/<int:pk>/outcome/", follow_up.lead_outcome, name="lead_outcome"),
    path("leads/<int:pk>/visits/<int:visit_pk>/", follow_up.lead_visit, name="lead_visit"),
]
