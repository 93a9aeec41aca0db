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
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: '/graphql' }),
    defaultQuery: '{\n  hello\n  auth_info { user_id tenant_id role account_type }\n}\n',
    defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    storage: memoryStorage,
  }),
);
