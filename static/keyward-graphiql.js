// Starts GraphiQL on GET /graphql. A file rather than an inline script, so the page's
// Content-Security-Policy can forbid inline scripts. Put your key in the Headers tab.
// GraphiQL keeps tabs and history (with their headers, so the key) in the storage it is
// given: here one that lives only as long as the page, never localStorage.
var memoryStorage = (function () {
  var items = {};
  return {
    getItem: function (k) { return Object.prototype.hasOwnProperty.call(items, k) ? items[k] : null; },
    setItem: function (k, v) { items[k] = String(v); },
    removeItem: function (k) { delete items[k]; },
    clear: function () { items = {}; },
    get length() { return Object.keys(items).length; },
  };
})();

// The Headers tab starts with "Bearer " and no key. Sent as it is, that empty key would be
// refused (a key that is sent must be valid), and with it the schema that the Docs panel
// and autocompletion need; introspection needs no key, so an empty one is not sent.
var keywardFetcher = (function () {
  var fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  return function (params, options) {
    var headers = {};
    var given = (options && options.headers) || {};
    Object.keys(given).forEach(function (name) {
      var empty = name.toLowerCase() === 'authorization' && /^\s*bearer\s*$/i.test(String(given[name]));
      if (!empty) headers[name] = given[name];
    });
    return fetcher(params, Object.assign({}, options, { headers: headers }));
  };
})();

var startingQuery = [
  '# Keyward\'s GraphQL explorer',
  '#',
  '# 1. Make a key at User › API Keys (link above)',
  '# 2. Paste it after "Bearer " in Headers',
  '# 3. Run this with ▶ (Ctrl-Enter)',
  '#',
  '# hello needs no key; auth_info shows your',
  '# user_id, which create_api_key needs.',
  '# Docs (the book icon) lists every field.',
  '{',
  '  hello',
  '  auth_info { user_id tenant_id role account_type }',
  '}',
  '',
].join('\n');

ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: keywardFetcher,
    defaultQuery: startingQuery,
    defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
    defaultEditorToolsVisibility: 'headers',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    storage: memoryStorage,
  },
  // The logo leads back to the dashboard, not to GraphiQL's repository.
  React.createElement(GraphiQL.Logo, null,
    React.createElement('a', { href: '/user/api-keys', id: 'graphiql-logo' }, 'Keyward'))),
);

// GraphiQL's editors are CodeMirror 5 instances, each typed into through a hidden textarea
// without a label, and their scrolling areas cannot be reached by keyboard: name each
// textarea after its editor and let Tab reach the scrolling areas, as they are drawn.
function nameEditors() {
  var named = [
    ['.graphiql-query-editor', 'Query editor'],
    ['.graphiql-editor-tool .graphiql-editor:nth-child(1)', 'Variables editor'],
    ['.graphiql-editor-tool .graphiql-editor:nth-child(2)', 'Headers editor'],
    ['.graphiql-response', 'Result, read-only'],
  ];
  named.forEach(function (pair) {
    document.querySelectorAll(pair[0] + ' .CodeMirror textarea').forEach(function (t) {
      if (t.getAttribute('aria-label') !== pair[1]) t.setAttribute('aria-label', pair[1]);
    });
  });
  document.querySelectorAll('.graphiql-container .CodeMirror-scroll').forEach(function (s) {
    if (s.getAttribute('tabindex') !== '0') s.setAttribute('tabindex', '0');
  });
}
new MutationObserver(nameEditors).observe(document.getElementById('graphiql'), {
  childList: true,
  subtree: true,
});
