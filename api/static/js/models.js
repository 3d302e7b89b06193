/* The dataset models' forward pass in the browser (docs/spec.md §3.3), for the data view: what a
 * model predicts at a trajectory's parameters, on the samples or on a grid of points.
 *
 * It mirrors engine/objectives/models.py term for term, in the same order of summation, so the
 * page shows what the engine computes (tests/browser/test_data_view.py compares the two):
 *   linear_regression, logistic_regression   z = w[d] + Σ_j w[j]·x_j           (w_1..w_d, b)
 *   softmax_regression                       z_c = b[c] + Σ_j x_j·W[j,c]        (W d×k row-major, b k)
 *   mlp   u_i = f(b1[i] + Σ_j x_j·W1[j,i]), out_c = b2[c] + Σ_i u_i·W2[i,c]
 *         (W1 d×h, b1 h, W2 h×o, b2 o; o = 1 for mse, o = classes for cross_entropy)
 * Class: z > 0 (σ(z) > ½) for logistic, the first largest output otherwise. */

const ACTIVATIONS = {
  tanh: Math.tanh,
  relu: (z) => Math.max(z, 0),
  sigmoid,
};

/* σ(z) = 1 / (1 + e^−z), without overflow for either sign (as the engine's _sigmoid). */
export function sigmoid(z) {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const ez = Math.exp(z);
  return ez / (1 + ez);
}

/* The model's shape on `nFeatures` features: `info` is its catalogue entry (the defaults of its
 * function_params), `given` the function_params sent, `parameterCount` the length of its
 * parameter vector on the data (POST /v1/samples), from which the number of outputs follows. */
export function modelShape(info, given, nFeatures, parameterCount) {
  const params = {};
  for (const p of (info && info.params) || []) params[p.name] = given && given[p.name] !== undefined ? given[p.name] : p.default;
  const name = info ? info.name : "linear_regression";
  const d = nFeatures;
  const shape = { name, d, hidden: 0, outputs: 1, activation: null, classifier: false };
  if (name === "logistic_regression") shape.classifier = true;
  else if (name === "softmax_regression") Object.assign(shape, { outputs: parameterCount / (d + 1), classifier: true });
  else if (name === "mlp") {
    const h = Number(params.hidden);
    Object.assign(shape, {
      hidden: h, activation: ACTIVATIONS[params.activation] || Math.tanh,
      outputs: (parameterCount - d * h - h) / (h + 1), classifier: params.loss === "cross_entropy",
    });
  }
  shape.classes = shape.classifier ? Math.max(2, shape.outputs) : 0;
  return shape;
}

/* A forward pass bound to one parameter vector `w`: call it with a sample `x` (d numbers) and it
 * fills and returns `out` (the raw outputs: the score z, the logits, or the network's outputs). */
export function forward(shape, w) {
  const { d, outputs } = shape;
  const out = new Float64Array(outputs);
  if (shape.name === "linear_regression" || shape.name === "logistic_regression") {
    return (x) => {
      let z = w[d];
      for (let j = 0; j < d; j++) z += w[j] * x[j];
      out[0] = z;
      return out;
    };
  }
  if (shape.name === "softmax_regression") {
    const bias = d * outputs;
    return (x) => {
      for (let c = 0; c < outputs; c++) out[c] = w[bias + c];
      for (let j = 0; j < d; j++) {
        const feature = x[j], offset = j * outputs;
        for (let c = 0; c < outputs; c++) out[c] += feature * w[offset + c];
      }
      return out;
    };
  }
  const { hidden, activation } = shape;
  const b1 = d * hidden, w2 = b1 + hidden, b2 = w2 + hidden * outputs;
  const units = new Float64Array(hidden);
  return (x) => {
    for (let i = 0; i < hidden; i++) units[i] = w[b1 + i];
    for (let j = 0; j < d; j++) {
      const feature = x[j], offset = j * hidden;
      for (let i = 0; i < hidden; i++) units[i] += feature * w[offset + i];
    }
    for (let i = 0; i < hidden; i++) units[i] = activation(units[i]);
    for (let c = 0; c < outputs; c++) out[c] = w[b2 + c];
    for (let i = 0; i < hidden; i++) {
      const unit = units[i], offset = w2 + i * outputs;
      for (let c = 0; c < outputs; c++) out[c] += unit * w[offset + c];
    }
    return out;
  };
}

/* The predicted class of raw outputs `out`. */
export function classOf(shape, out) {
  if (shape.outputs === 1) return out[0] > 0 ? 1 : 0;
  let best = 0;
  for (let c = 1; c < out.length; c++) if (out[c] > out[best]) best = c;
  return best;
}

/* What the 1-feature view plots against x: the prediction for regression, the probability of
 * class 1 for two classes (σ(z), or the softmax of two outputs), the class for more. */
export function curveValue(shape, out) {
  if (!shape.classifier) return out[0];
  if (shape.outputs === 1) return sigmoid(out[0]);
  if (shape.outputs === 2) return sigmoid(out[1] - out[0]);
  return classOf(shape, out);
}

/* z[i][j] over the grid xs × ys (rows follow y, as Plotly's heatmap): the class for classifiers,
 * the output for regression. `rows` (arrays of Float64Array) is reused between calls. */
export function gridValues(shape, w, xs, ys, rows) {
  const predict = forward(shape, w);
  const point = new Float64Array(2);
  const z = rows && rows.length === ys.length ? rows : ys.map(() => new Float64Array(xs.length));
  for (let i = 0; i < ys.length; i++) {
    point[1] = ys[i];
    const row = z[i];
    for (let j = 0; j < xs.length; j++) {
      point[0] = xs[j];
      const out = predict(point);
      row[j] = shape.classifier ? classOf(shape, out) : out[0];
    }
  }
  return z;
}

/* Raw outputs and classes of samples `X` (for the tests: compared with the engine's). */
export function predictSamples(shape, w, X) {
  const predict = forward(shape, w);
  return X.map((x) => {
    const out = predict(x);
    return { outputs: Array.from(out), label: shape.classifier ? classOf(shape, out) : null };
  });
}
