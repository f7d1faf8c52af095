// Draws the charts of a statistics page from the JSON the page carries (no inline script: CSP).
