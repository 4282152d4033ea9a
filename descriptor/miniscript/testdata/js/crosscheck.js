// Cross-check peer for descriptor/miniscript (miniscript_js_test.go).
// Reads a JSON array of {expr, tapscript} on stdin and prints, for each,
// what @bitcoinerlab/miniscript says: compiled ASM, the analyzer's verdict
// and the satisfier's non-malleable solutions.
'use strict';
const { compileMiniscript, analyzeMiniscript, satisfier } = require('@bitcoinerlab/miniscript');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const cases = JSON.parse(input);
  const out = cases.map(({ expr, tapscript }) => {
    const r = { expr };
    try {
      r.compile = compileMiniscript(expr, { tapscript });
      r.analysis = analyzeMiniscript(expr, { tapscript });
    } catch (e) {
      r.error = String(e.message || e);
      return r;
    }
    if (r.analysis.issane) {
      try {
        const s = satisfier(expr, { tapscript });
        r.nonMalleableSats = s.nonMalleableSats;
        r.malleableSats = s.malleableSats;
      } catch (e) {
        r.satError = String(e.message || e);
      }
    }
    return r;
  });
  process.stdout.write(JSON.stringify(out));
});
