import Mustache

/// The portal's pages. Mustache escapes every `{{value}}` for HTML, so names, notes and
/// anything else a person typed are shown as text, never as markup.
enum PortalTemplates {
    static func library() throws -> MustacheLibrary {
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in sources { templates[name] = try MustacheTemplate(string: text) }
        return MustacheLibrary(templates: templates)
    }

    static let sources: [String: String] = [
        "head": """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{title}} · Portcullis</title>
            <link rel="stylesheet" href="/portal/static/portal.css">
            </head><body>
            <header><a class="brand" href="{{home}}">Portcullis</a>
            {{#nav}}<nav aria-label="Main"><a href="/portal">Overview</a> <a href="/portal/customers">Customers</a>
            <a href="/portal/registries">Registries</a> <a href="/portal/releases">Releases</a> <a href="/portal/tokens">Tokens</a>
            <a href="/portal/domains">Domains</a> <a href="/portal/audit">Audit</a></nav>{{/nav}}
            {{#signedIn}}<form method="post" action="{{logout}}" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
            <span class="who">{{signedIn}}</span> <button type="submit">Sign out</button></form>{{/signedIn}}
            </header><main>
            {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
            {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
            """,
        "foot": """
            </main>
            <script src="/portal/static/portal.js"></script>
            </body></html>
            """,
        "login": """
            {{> head}}
            <h1>{{heading}}</h1>
            <form method="post" action="{{action}}">
            <input type="hidden" name="csrf" value="{{csrf}}">
            {{#email}}<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>{{/email}}
            {{^email}}<label for="license">License ID</label><input id="license" name="license" type="password" autocomplete="current-password" required>{{/email}}
            <button type="submit">Sign in</button>
            </form>
            {{> foot}}
            """,
        "overview": """
            {{> head}}
            <h1>Overview</h1>
            <h2>Apps</h2>
            <table><thead><tr><th scope="col">Slug</th><th scope="col">Name</th></tr></thead><tbody>
            {{#apps}}<tr><td>{{slug}}</td><td>{{name}}</td></tr>{{/apps}}
            </tbody></table>
            {{#canChange}}<form method="post" action="/portal/apps"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="aslug">New app (slug)</label><input id="aslug" name="slug" required>
            <label for="aname">Name</label><input id="aname" name="name">
            <button type="submit">Create app</button></form>{{/canChange}}
            <h2>Licenses expiring within 30 days</h2>
            {{^expiring}}<p>None.</p>{{/expiring}}
            {{#hasExpiring}}<table><thead><tr><th scope="col">Customer</th><th scope="col">App</th><th scope="col">Expires</th></tr></thead><tbody>
            {{#expiring}}<tr><td><a href="/portal/customers/{{id}}">{{name}}</a></td><td>{{app}}</td><td>{{expires}}</td></tr>{{/expiring}}
            </tbody></table>{{/hasExpiring}}
            {{> foot}}
            """,
        "customers": """
            {{> head}}
            <h1>Customers</h1>
            <table><thead><tr><th scope="col">Name</th><th scope="col">App</th><th scope="col">Channel</th><th scope="col">Type</th>
            <th scope="col">Status</th><th scope="col">Expires</th></tr></thead><tbody>
            {{#customers}}<tr><td><a href="/portal/customers/{{id}}">{{name}}</a></td><td>{{app}}</td><td>{{channel}}</td><td>{{type}}</td>
            <td>{{status}}</td><td>{{expires}}</td></tr>{{/customers}}
            </tbody></table>
            {{#canChange}}<h2>New customer</h2>
            <form method="post" action="/portal/customers"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="app">App</label><select id="app" name="app">{{#apps}}<option value="{{slug}}">{{slug}}</option>{{/apps}}</select>
            <label for="name">Name</label><input id="name" name="name" required>
            <label for="email">Email</label><input id="email" name="email" type="email">
            <label for="channel">Channel</label><input id="channel" name="channel" value="Stable">
            <label for="type">License type</label><select id="type" name="type"><option>paid</option><option>trial</option>
            <option>dev</option><option>community</option></select>
            <label for="days">Expires in days (empty: never)</label><input id="days" name="days" inputmode="numeric">
            <button type="submit">Create customer</button></form>{{/canChange}}
            {{> foot}}
            """,
        "customer": """
            {{> head}}
            <h1>{{name}}</h1>
            <dl><dt>App</dt><dd>{{app}}</dd><dt>Channel</dt><dd>{{channel}}</dd><dt>Type</dt><dd>{{type}}</dd>
            <dt>Status</dt><dd>{{status}}</dd><dt>Expires</dt><dd>{{expires}}</dd><dt>Email</dt><dd>{{email}}</dd></dl>
            <h2>License ID</h2><p><code id="license">{{licenseID}}</code> <button type="button" data-copy="license">Copy</button></p>
            <h2>Pull secret</h2><pre id="pullsecret">{{pullSecret}}</pre><button type="button" data-copy="pullsecret">Copy</button>
            <h2>What the customer sees</h2>
            <p>At <a href="/account">the customer portal</a>, signed in with the license ID:</p>
            <pre>helm registry login {{host}} --username {{email}} --password &lt;license ID&gt;
            {{#releases}}helm install {{chart}} oci://{{host}}/{{path}} --version {{version}}
            {{/releases}}</pre>
            {{#canChange}}<form method="post" action="/portal/customers/{{id}}/{{toggle}}"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit">{{toggleLabel}}</button></form>
            <h2>Edit</h2>
            <form method="post" action="/portal/customers/{{id}}/edit"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="ename">Name</label><input id="ename" name="name" value="{{name}}">
            <label for="eemail">Email</label><input id="eemail" name="email" type="email" value="{{email}}">
            <label for="echannel">Channel</label><input id="echannel" name="channel" value="{{channel}}">
            <label for="etype">License type</label><input id="etype" name="type" value="{{type}}">
            <label for="edays">Expires in days from now</label><input id="edays" name="days" inputmode="numeric">
            <label><input type="checkbox" name="never"> Never expires</label>
            <label><input type="checkbox" name="helm" {{#helm}}checked{{/helm}}> May install with Helm</label>
            <button type="submit">Save</button></form>{{/canChange}}
            <h2>Pulls, last 14 days</h2>
            {{{chart}}}
            <h3>Per image</h3>
            <table><thead><tr><th scope="col">Repository</th><th scope="col">Requests</th><th scope="col">Bytes</th>
            <th scope="col">Refused</th></tr></thead><tbody>
            {{#images}}<tr><td>{{repository}}</td><td>{{requests}}</td><td>{{bytes}}</td><td>{{refused}}</td></tr>{{/images}}
            </tbody></table>
            {{#hasRefusals}}<h3>Refused because</h3>
            <ul>{{#refusals}}<li>{{reason}} ({{count}})</li>{{/refusals}}</ul>{{/hasRefusals}}
            <h2>Recent requests</h2>
            <table><thead><tr><th scope="col">At</th><th scope="col">Action</th><th scope="col">Repository</th><th scope="col">Status</th>
            <th scope="col">Reason</th></tr></thead><tbody>
            {{#pulls}}<tr><td>{{at}}</td><td>{{action}}</td><td>{{repository}}</td><td>{{status}}</td><td>{{reason}}</td></tr>{{/pulls}}
            </tbody></table>
            {{> foot}}
            """,
        "registries": """
            {{> head}}
            <h1>External registries</h1>
            <table><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Endpoint</th><th scope="col">Login</th>
            <th scope="col">Apps</th>{{#canChange}}<th scope="col">Test or remove</th>{{/canChange}}</tr></thead><tbody>
            {{#registries}}<tr><td>{{name}}</td><td>{{provider}}</td><td>{{endpoint}}</td><td>{{authType}}</td><td>{{apps}}</td>
            {{#canChange}}<td><form method="post" action="/portal/registries/{{name}}/test" class="row"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="test-{{name}}">Image</label><input id="test-{{name}}" name="image" placeholder="org/api:1.0" required>
            <button type="submit">Test</button></form>
            <form method="post" action="/portal/registries/{{name}}/remove" class="row"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit">Remove</button></form></td>{{/canChange}}</tr>{{/registries}}
            </tbody></table>
            {{#canChange}}<h2>Add a registry</h2>
            <form method="post" action="/portal/registries"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="kind">Kind</label><select id="kind" name="kind">{{#kinds}}<option>{{.}}</option>{{/kinds}}</select>
            <label for="endpoint">Endpoint</label><input id="endpoint" name="endpoint" placeholder="quay.io">
            <label for="rname">Name</label><input id="rname" name="name">
            <label for="username">Username or access key ID</label><input id="username" name="username" autocomplete="off">
            <label for="secret">Password, token or secret key (never shown again)</label><input id="secret" name="secret" type="password" autocomplete="new-password">
            <label for="region">Region (ECR)</label><input id="region" name="region">
            <label for="rapp">App</label><select id="rapp" name="app">{{#apps}}<option value="{{slug}}">{{slug}}</option>{{/apps}}</select>
            <button type="submit">Add registry</button></form>{{/canChange}}
            {{> foot}}
            """,
        "releases": """
            {{> head}}
            <h1>Releases of {{app}}</h1>
            <form method="get" action="/portal/releases"><label for="sapp">App</label>
            <select id="sapp" name="app">{{#apps}}<option value="{{slug}}" {{#selected}}selected{{/selected}}>{{slug}}</option>{{/apps}}</select>
            <button type="submit">Show</button></form>
            <table><thead><tr><th scope="col">Sequence</th><th scope="col">Charts</th><th scope="col">Notes</th><th scope="col">Channels</th></tr></thead><tbody>
            {{#releases}}<tr><td>{{sequence}}</td><td>{{charts}}</td><td>{{notes}}</td><td>{{channels}}</td></tr>{{/releases}}
            </tbody></table>
            {{#canChange}}<h2>New release</h2>
            <form method="post" action="/portal/releases" enctype="multipart/form-data"><input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="app" value="{{app}}">
            <label for="chart">Chart archives (.tgz)</label><input id="chart" name="chart" type="file" accept=".tgz,application/gzip" multiple required>
            <label for="nversion">Version label</label><input id="nversion" name="version" required>
            <label for="nnotes">Release notes</label><input id="nnotes" name="notes">
            <label for="promote">Promote to</label><select id="promote" name="promote"><option value="">(none)</option>
            {{#channels}}<option>{{.}}</option>{{/channels}}</select>
            <button type="submit">Create release</button></form>
            <h2>Promote</h2>
            <form method="post" action="/portal/releases/promote"><input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="app" value="{{app}}">
            <label for="sequence">Sequence</label><input id="sequence" name="sequence" inputmode="numeric" required>
            <label for="pchannel">Channel</label><select id="pchannel" name="channel">{{#channels}}<option>{{.}}</option>{{/channels}}</select>
            <label for="version">Version label</label><input id="version" name="version" required>
            <label for="notes">Release notes</label><input id="notes" name="notes">
            <button type="submit">Promote</button></form>{{/canChange}}
            {{> foot}}
            """,
        "tokens": """
            {{> head}}
            <h1>Vendor tokens</h1>
            {{#created}}<p class="notice">The new token, shown once: <code id="newtoken">{{created}}</code>
            <button type="button" data-copy="newtoken">Copy</button></p>{{/created}}
            <table><thead><tr><th scope="col">Name</th><th scope="col">Scope</th><th scope="col">Created</th>{{#canChange}}<th scope="col">Remove</th>{{/canChange}}</tr></thead><tbody>
            {{#tokens}}<tr><td>{{name}}</td><td>{{scope}}</td><td>{{created}}</td>{{#canChange}}<td>
            <form method="post" action="/portal/tokens/{{id}}/remove" class="row"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit">Remove</button></form></td>{{/canChange}}</tr>{{/tokens}}
            </tbody></table>
            {{#canChange}}<h2>New token</h2>
            <form method="post" action="/portal/tokens"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="tname">Name</label><input id="tname" name="name" required>
            <label for="tscope">Scope</label><select id="tscope" name="scope"><option>push</option><option>read</option></select>
            <button type="submit">Create token</button></form>{{/canChange}}
            {{> foot}}
            """,
        "domains": """
            {{> head}}
            <h1>Custom domains</h1>
            <table><thead><tr><th scope="col">Domain</th><th scope="col">App</th><th scope="col">Own certificate</th>{{#canChange}}<th scope="col">Remove</th>{{/canChange}}</tr></thead><tbody>
            {{#domains}}<tr><td>{{name}}</td><td>{{app}}</td><td>{{certificate}}</td>{{#canChange}}<td>
            <form method="post" action="/portal/domains/{{name}}/remove" class="row"><input type="hidden" name="csrf" value="{{csrf}}">
            <label><input type="checkbox" name="force"> even if charts name it</label><button type="submit">Remove</button></form></td>{{/canChange}}</tr>{{/domains}}
            </tbody></table>
            {{#canChange}}<h2>Add a domain</h2>
            <p>Certificates are added with <code>portcullis domain add NAME --app APP --cert F --key F</code>.</p>
            <form method="post" action="/portal/domains"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="dname">Domain</label><input id="dname" name="name" placeholder="registry.example.com" required>
            <label for="dapp">App</label><select id="dapp" name="app">{{#apps}}<option value="{{slug}}">{{slug}}</option>{{/apps}}</select>
            <button type="submit">Add domain</button></form>{{/canChange}}
            {{> foot}}
            """,
        "audit": """
            {{> head}}
            <h1>Audit log</h1>
            <table><thead><tr><th scope="col">At</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Subject</th></tr></thead><tbody>
            {{#events}}<tr><td>{{at}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{subject}}</td></tr>{{/events}}
            </tbody></table>
            {{> foot}}
            """,
        "install": """
            {{> head}}
            <h1>Install {{app}}</h1>
            <p>Signed in as {{customer}} · channel {{channel}} · license {{status}}</p>
            <h2>1. Log in to the registry</h2>
            <pre id="login">helm registry login {{host}} --username {{email}} --password &lt;your license ID&gt;</pre>
            <button type="button" data-copy="login">Copy</button>
            <h2>2. Install</h2>
            {{^releases}}<p>No release is available on your channel yet.</p>{{/releases}}
            {{#releases}}<pre id="install-{{index}}">helm install {{chart}} oci://{{host}}/{{path}} --version {{version}}</pre>
            <button type="button" data-copy="install-{{index}}">Copy</button>{{/releases}}
            <h2>Images</h2>
            <p>Images come through the proxy; your cluster pulls them with this pull secret:</p>
            <ul>{{#images}}<li><code>{{.}}</code></li>{{/images}}</ul>
            <p><a href="/account/pull-secret.json" download="pull-secret.json">Download the pull secret</a></p>
            <pre>kubectl create secret generic {{app}}-pull --type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson=pull-secret.json</pre>
            {{> foot}}
            """,
    ]

    /// The portal's only script, served as a file so no inline script is allowed (CSP `script-src 'self'`).
    static let script = """
        for (const b of document.querySelectorAll("button[data-copy]")) {
          b.addEventListener("click", () => navigator.clipboard.writeText(document.getElementById(b.dataset.copy).textContent));
        }

        """

    static let stylesheet = """
        :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
        body { margin: 0; } main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
        header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .75rem 1rem; background: #1d2330; color: #fff; }
        header a { color: #fff; } .brand { font-weight: 700; text-decoration: none; }
        nav a { margin-right: .75rem; } form.inline { margin-left: auto; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin: .5rem 0 1rem; }
        th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #dde1e7; overflow-wrap: anywhere; }
        form.row { display: flex; gap: .4rem; align-items: center; padding: 0; border: 0; background: none; max-width: none; }
        form:not(.inline):not(.row) { display: grid; gap: .4rem; max-width: 28rem; background: #fff; padding: 1rem; border: 1px solid #dde1e7; }
        input, select, button { font: inherit; padding: .35rem; }
        button { cursor: pointer; } pre, code { background: #eef0f3; padding: .3rem; overflow-x: auto; }
        .notice { background: #e3f4e8; padding: .5rem; } .error { background: #fbe4e4; padding: .5rem; }
        svg { background: #fff; border: 1px solid #dde1e7; max-width: 100%; height: auto; }
        @media (max-width: 40rem) { th, td { font-size: .9rem; } }
        """
}
