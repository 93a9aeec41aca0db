// Starts GraphiQL on GET /graphql. A file rather than an inline script, so the page's
// Content-Security-Policy can forbid inline scripts. Put your key in the Headers tab;
// GraphiQL does not store it.
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: '/graphql' }),
    defaultQuery: '{\n  hello\n  auth_info { user_id tenant_id role account_type }\n}\n',
    defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
  }),
);
