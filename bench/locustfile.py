"""Load scenario: coordinators browsing their pages while the public submits intake forms.

Run through bench/load.sh, which starts the production stack (gunicorn, 2 workers) on loopback,
runs this for a bounded time and stops everything.
"""

import random
import re

from locust import HttpUser, between, task

COORDINATORS = [("coordinator", "carecrm-coordinator"), ("coordinator2", "carecrm-coordinator2")]
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LEAD = re.compile(r'href="/admin/work/leads/(\d+)/"')


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    return match[1] if match else ""


class Coordinator(HttpUser):
    weight = 4
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        username, password = random.choice(COORDINATORS)
        page = self.client.get("/admin/login/", name="login page")
        self.client.post(
            "/admin/login/?next=/admin/work/queue/",
            {
                "login_view-current_step": "auth",  # the two-factor sign-in's password step
                "auth-username": username,
                "auth-password": password,
                "csrfmiddlewaretoken": _csrf(page.text),
            },
            name="login",
        )
        self.lead_ids = LEAD.findall(self.client.get("/admin/work/queue/", name="queue").text)

    @task(3)
    def queue(self) -> None:
        response = self.client.get("/admin/work/queue/", name="queue")
        self.lead_ids = LEAD.findall(response.text) or self.lead_ids

    @task(2)
    def board(self) -> None:
        self.client.get("/admin/work/board/", name="board")

    @task(4)
    def lead(self) -> None:
        if self.lead_ids:
            self.client.get(f"/admin/work/leads/{random.choice(self.lead_ids)}/", name="lead page")


class PublicVisitor(HttpUser):
    weight = 1
    wait_time = between(1, 3)

    @task
    def submit_intake(self) -> None:
        form = self.client.get("/check-eligibility/?lang=he", name="intake form")
        number = random.randint(10000, 99999)  # 054-76x-xxxx: always a valid Israeli mobile
        self.client.post(
            "/check-eligibility/",
            {
                "csrfmiddlewaretoken": _csrf(form.text),
                "submitter_role": "patient",
                "first_name": "Load",
                "last_name": f"Test{number}",
                "age": str(random.randint(20, 70)),
                "phone": f"+9725476{number}",
                "condition": "sle",
                "preferred_language": "he",
                "contact_channel": "phone",
                "consent": "on",
                "treatments-TOTAL_FORMS": "0",
                "treatments-INITIAL_FORMS": "0",
            },
            name="intake submit",
            headers={"Referer": f"{self.host}/check-eligibility/"},
        )
