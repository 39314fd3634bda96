// Starts GOV.UK Frontend's components (error summary focus, skip link,
// double-click prevention on buttons). The form works without it.
import { initAll } from '/assets/govuk-frontend.min.js'

initAll()
