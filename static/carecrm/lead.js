// "Move the lead": show only the fields the chosen move uses. Without JavaScript every field
// shows, and a field keeps showing while it holds a value or an error.
(function () {
  const USED_BY = {
    close_reason: ["closed"],
    screen_failure_criterion: ["closed"],
    close_detail: ["closed"],
    infusion_date: ["scheduled"],
  };

  function update(form, select) {
    form.querySelectorAll("[data-field]").forEach((wrapper) => {
      const stages = USED_BY[wrapper.dataset.field];
      if (!stages) return;
      const input = wrapper.querySelector("input, select, textarea");
      const inUse = (input && input.value) || wrapper.querySelector(".crm-errorlist");
      wrapper.hidden = !(stages.includes(select.value) || inUse);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-testid=transition-form]");
    const select = form && form.querySelector("select[name=to_stage]");
    if (!select) return;
    select.addEventListener("change", () => update(form, select));
    update(form, select);
  });
})();

// "Override…" on a criterion: the one override form, told which candidate and criterion.
(function () {
  document.addEventListener("click", (event) => {
    const dialog = document.getElementById("override-dialog");
    if (!dialog) return;
    const opener = event.target.closest("[data-override]");
    if (opener) {
      const [kind, id, key] = opener.dataset.override.split(" ");
      const form = dialog.querySelector("form");
      form.elements.candidate_kind.value = kind;
      form.elements.candidate_id.value = id;
      form.elements.criterion_key.value = key;
      form.elements.reason.value = "";
      dialog.querySelector("[data-override-name]").textContent = opener.dataset.criterionName;
      dialog.showModal();
      form.elements.reason.focus();
    } else if (event.target.closest("[data-override-cancel]")) {
      dialog.close();
    }
  });
})();
