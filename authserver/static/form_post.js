// OAuth 2.0 Form Post Response Mode: send the response to the client without a click.
document.forms[0].submit();
