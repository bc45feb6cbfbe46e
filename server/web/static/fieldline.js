// Progressive niceties only: every page works without this file.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined) {
    target.form?.submit();
  }
});
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.name === "forecast_id") {
    const option = target.selectedOptions[0];
    const value = target.form?.querySelector("input[name=value]");
    if (option && value && option.dataset.value) value.placeholder = option.dataset.value;
  }
});
