// "Move the lead": show only the fields the chosen move uses. Without JavaScript every field
// shows, and a field keeps showing while it holds a value or an error.
(function () {
  const USED_BY = {
    close_reason: ["closed"],
    screen_failure_criterion: ["closed"],
    close_detail: ["closed"],
    scheduled_for: ["scheduled"],
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
