/* global Databench, document */

// connect this page to its own instance of the scaffold analysis, and wire
// its buttons, data-signal elements, log and alerts
const databench = new Databench.Connection();
Databench.ui.wire(databench);

// listen for changes of `status` in the analysis's data
databench.on({ data: 'status' }, (status) => {
  document.getElementById('status').textContent = status;
});

databench.connect();
