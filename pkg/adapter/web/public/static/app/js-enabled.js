// Loaded as the first element of <body>: tells GOV.UK Frontend's styles
// that JavaScript runs, without an inline script (the Content-Security-Policy
// allows none).
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
