/* global Databench */
// served beside index.html, and through the static map of the run test
const databench = new Databench.Connection();
Databench.ui.wire(databench);
databench.connect();
