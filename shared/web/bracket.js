// DojoPool bracket renderer: draws a `shared::bracket::View` (the bracket command's output, the
// cloud's mirror) into an element, the same on the venue's TVs and in the cloud's portal.
//
// No dependencies, no build step, plain ES2017. Every value is set as text (`textContent`), never
// as markup, so a player named `<img src=x onerror=…>` shows as that text. No inline style: the
// look is in bracket.css, set through classes (strict CSP). Rendering replaces the container's
// content, so a page re-renders on every update.
//
//   DojoBracket.render(container, view, { matchHref: (match) => '/portal/match?id=…' | null,
//                                         empty: 'No bracket yet.' })
(function () {
  'use strict';

  var STAGE_TITLES = {
    winners: "Winners' bracket",
    losers: "Losers' bracket",
    finals: 'Finals',
    knockout: 'Knockout',
    bracket: 'Bracket',
  };

  // `el('div', 'a b', 'text')`: a node with classes and text (never markup).
  function el(tag, classes, text) {
    var node = document.createElement(tag);
    if (classes) node.className = classes;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function list(value) { return Array.isArray(value) ? value : []; }

  function str(value) { return typeof value === 'string' ? value : null; }

  // Only links to this site or to http(s): a `javascript:` href never reaches the DOM.
  function safeHref(href) {
    if (typeof href !== 'string' || href === '') return null;
    try {
      var url = new URL(href, window.location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? href : null;
    } catch (_) {
      return null;
    }
  }

  function raceText(match) {
    var race = list(match.race);
    if (race.length !== 2 || !race[0]) return '';
    return race[0] === race[1] ? 'race to ' + race[0] : 'race ' + race[0] + '/' + race[1];
  }

  // One match: its id, its two players (winner highlighted, bye and forfeits marked), scores.
  function matchNode(match, options) {
    var status = ['waiting', 'ready', 'done'].indexOf(match.status) >= 0 ? match.status : 'waiting';
    var classes = 'db-match db-' + status;
    if (match.bye) classes += ' db-bye';
    var node = el('div', classes);
    node.setAttribute('data-match', String(match.id || ''));
    node.setAttribute('data-status', status);

    var head = el('div', 'db-match-head');
    var href = options.matchHref ? safeHref(options.matchHref(match)) : null;
    var label;
    if (href) {
      label = el('a', 'db-match-id', match.id);
      label.setAttribute('href', href);
    } else {
      label = el('span', 'db-match-id', match.id);
    }
    head.appendChild(label);
    var race = raceText(match);
    if (race && !match.bye) head.appendChild(el('span', 'db-race', race));
    head.appendChild(el('span', 'db-status', match.bye ? 'bye' : status));
    node.appendChild(head);

    var players = list(match.players);
    var score = list(match.score);
    var forfeited = list(match.forfeited);
    for (var i = 0; i < 2; i += 1) {
      var name = str(players[i]);
      var row = el('div', 'db-player');
      if (name === null) {
        row.className += match.bye && status === 'done' ? ' db-bye-slot' : ' db-tbd';
        row.appendChild(el('span', 'db-name', match.bye && status === 'done' ? 'bye' : 'TBD'));
      } else {
        if (match.winner === name) row.className += ' db-winner';
        else if (status === 'done' && match.winner) row.className += ' db-loser';
        row.appendChild(el('span', 'db-name', name));
        if (forfeited.indexOf(name) >= 0) row.appendChild(el('span', 'db-forfeit', 'forfeit'));
      }
      row.appendChild(el('span', 'db-score', score.length === 2 ? score[i] : ''));
      node.appendChild(row);
    }
    return node;
  }

  // Matches by round, in their order, as columns.
  function roundsNode(matches, options, roundTitle) {
    var rounds = {};
    var order = [];
    matches.forEach(function (match) {
      var round = Number(match.round) || 1;
      if (!rounds[round]) { rounds[round] = []; order.push(round); }
      rounds[round].push(match);
    });
    order.sort(function (a, b) { return a - b; });
    var wrap = el('div', 'db-rounds');
    order.forEach(function (round, index) {
      var column = el('div', 'db-round');
      column.setAttribute('data-round', String(round));
      column.appendChild(el('h4', 'db-round-title', roundTitle(round, index, order.length)));
      var list_ = el('div', 'db-round-matches');
      rounds[round].forEach(function (match) { list_.appendChild(matchNode(match, options)); });
      column.appendChild(list_);
      wrap.appendChild(column);
    });
    return wrap;
  }

  function eliminationTitle(round, index, count) {
    if (index === count - 1 && count > 1) return 'Final';
    if (index === count - 2 && count > 2) return 'Semi-finals';
    return 'Round ' + round;
  }

  function section(kind, title) {
    var node = el('section', 'db-section db-' + kind);
    node.setAttribute('data-stage', kind);
    node.appendChild(el('h3', 'db-title', title));
    return node;
  }

  // The players of a table: the standings' order, then anyone only seen in the matches.
  function playersOf(matches, standings) {
    var names = [];
    standings.forEach(function (s) {
      var name = str(s.player);
      if (name !== null && names.indexOf(name) < 0) names.push(name);
    });
    matches.forEach(function (m) {
      list(m.players).forEach(function (p) {
        var name = str(p);
        if (name !== null && names.indexOf(name) < 0) names.push(name);
      });
    });
    return names;
  }

  // Everyone against everyone: a cell per pair, the row player's score first.
  function crossTable(matches, names, options) {
    var wrap = el('div', 'db-table-wrap');
    var table = el('table', 'db-cross');
    var head = el('tr');
    head.appendChild(el('th', 'db-corner', ''));
    names.forEach(function (name) {
      var th = el('th', 'db-col', name);
      th.setAttribute('scope', 'col');
      head.appendChild(th);
    });
    var thead = el('thead');
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el('tbody');
    names.forEach(function (row) {
      var tr = el('tr');
      var th = el('th', 'db-row', row);
      th.setAttribute('scope', 'row');
      tr.appendChild(th);
      names.forEach(function (col) {
        if (row === col) { tr.appendChild(el('td', 'db-self', '')); return; }
        var found = null;
        var side = 0;
        matches.forEach(function (m) {
          var p = list(m.players);
          if (p[0] === row && p[1] === col) { found = m; side = 0; }
          if (p[1] === row && p[0] === col) { found = m; side = 1; }
        });
        var td = el('td', 'db-cell');
        if (found) {
          td.setAttribute('data-match', String(found.id || ''));
          var score = list(found.score);
          var text = found.status === 'done'
            ? (score.length === 2 ? score[side] + '\u2013' + score[1 - side] : (found.winner === row ? 'W' : 'L'))
            : '·';
          var href = options.matchHref ? safeHref(options.matchHref(found)) : null;
          if (href) {
            var a = el('a', null, text);
            a.setAttribute('href', href);
            td.appendChild(a);
          } else {
            td.textContent = text;
          }
          if (found.status === 'done') {
            if (found.winner === row) td.className += ' db-win';
            else if (found.winner) td.className += ' db-loss';
            else td.className += ' db-draw';
          } else {
            td.className += ' db-' + (found.status === 'ready' ? 'ready' : 'waiting');
          }
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  }

  function standingsTable(standings) {
    var swiss = standings.some(function (s) { return s.buchholz !== undefined && s.buchholz !== null; });
    var draws = standings.some(function (s) { return Number(s.draws) > 0; });
    var wrap = el('div', 'db-table-wrap');
    var table = el('table', 'db-standings');
    var cols = ['#', 'Player', 'W', 'L'];
    if (draws) cols.push('D');
    cols.push('Racks');
    if (swiss) cols.push('Buchholz', 'Median');
    var thead = el('thead');
    var head = el('tr');
    cols.forEach(function (c) {
      var th = el('th', null, c);
      th.setAttribute('scope', 'col');
      head.appendChild(th);
    });
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el('tbody');
    standings.forEach(function (s) {
      var classes = 'db-standing';
      if (s.withdrawn) classes += ' db-withdrawn';
      else if (s.alive === false) classes += ' db-out';
      var tr = el('tr', classes);
      tr.appendChild(el('td', 'db-rank', s.rank));
      var name = el('td', 'db-name', s.player);
      if (s.withdrawn) name.appendChild(el('span', 'db-tag', 'withdrew'));
      tr.appendChild(name);
      tr.appendChild(el('td', 'db-num', s.wins));
      tr.appendChild(el('td', 'db-num', s.losses));
      if (draws) tr.appendChild(el('td', 'db-num', s.draws || 0));
      tr.appendChild(el('td', 'db-num', (s.racks_won || 0) + '\u2013' + (s.racks_lost || 0)));
      if (swiss) {
        tr.appendChild(el('td', 'db-num', s.buchholz === undefined || s.buchholz === null ? '' : s.buchholz));
        tr.appendChild(el('td', 'db-num', s.median_buchholz === undefined || s.median_buchholz === null ? '' : s.median_buchholz));
      }
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  }

  function byStage(matches, stage) {
    return matches.filter(function (m) { return m.stage === stage; });
  }

  function build(view, options) {
    var root = el('div', 'dojo-bracket');
    var matches = list(view.matches).filter(function (m) { return m && typeof m === 'object'; });
    var standings = list(view.standings).filter(function (s) { return s && typeof s === 'object'; });
    if (view.complete) root.className += ' db-complete';

    var groups = byStage(matches, 'group');
    var winners = byStage(matches, 'winners');
    var losers = byStage(matches, 'losers');
    var finals = byStage(matches, 'grand_final').concat(byStage(matches, 'third_place'));
    var roundRobin = byStage(matches, 'round_robin');
    var swiss = byStage(matches, 'swiss');

    if (groups.length) {
      var letters = [];
      groups.forEach(function (m) {
        var g = str(m.group) || '?';
        if (letters.indexOf(g) < 0) letters.push(g);
      });
      letters.sort();
      var groupsNode = section('groups', 'Groups');
      letters.forEach(function (letter) {
        var inGroup = groups.filter(function (m) { return (str(m.group) || '?') === letter; });
        var groupStandings = standings.filter(function (s) { return s.group === letter; });
        var node = el('div', 'db-group');
        node.setAttribute('data-group', letter);
        node.appendChild(el('h4', 'db-group-title', 'Group ' + letter));
        node.appendChild(crossTable(inGroup, playersOf(inGroup, groupStandings), options));
        if (groupStandings.length) node.appendChild(standingsTable(groupStandings));
        groupsNode.appendChild(node);
      });
      root.appendChild(groupsNode);
    }

    if (winners.length) {
      var title = groups.length ? STAGE_TITLES.knockout
        : (losers.length ? STAGE_TITLES.winners : STAGE_TITLES.bracket);
      var w = section('winners', title);
      w.appendChild(roundsNode(winners, options, losers.length
        ? function (round) { return 'Round ' + round; } : eliminationTitle));
      root.appendChild(w);
    }
    if (losers.length) {
      var l = section('losers', STAGE_TITLES.losers);
      l.appendChild(roundsNode(losers, options, function (round) { return 'Round ' + round; }));
      root.appendChild(l);
    }
    if (finals.length) {
      var f = section('finals', STAGE_TITLES.finals);
      var row = el('div', 'db-rounds');
      finals.forEach(function (m) {
        var column = el('div', 'db-round');
        var kind = m.stage === 'third_place' ? 'Third place'
          : (m.id === 'GF2' ? 'Grand final (reset)' : 'Grand final');
        column.appendChild(el('h4', 'db-round-title', kind));
        var inner = el('div', 'db-round-matches');
        inner.appendChild(matchNode(m, options));
        column.appendChild(inner);
        row.appendChild(column);
      });
      f.appendChild(row);
      root.appendChild(f);
    }
    if (roundRobin.length) {
      var rr = section('round-robin', 'Results');
      rr.appendChild(crossTable(roundRobin, playersOf(roundRobin, standings), options));
      root.appendChild(rr);
    }
    if (swiss.length) {
      var s = section('swiss', 'Rounds');
      s.appendChild(roundsNode(swiss, options, function (round) { return 'Round ' + round; }));
      root.appendChild(s);
    }
    // Elimination formats show their final places too; groups already showed theirs per group.
    if (standings.length && !groups.length) {
      var st = section('standings', 'Standings');
      st.appendChild(standingsTable(standings));
      root.appendChild(st);
    }
    if (!matches.length && !standings.length) {
      root.appendChild(el('p', 'db-empty', options.empty || 'No matches yet.'));
    }
    return root;
  }

  function render(container, view, options) {
    if (!container) return;
    var opts = options || {};
    var node;
    if (!view || typeof view !== 'object') {
      node = el('div', 'dojo-bracket');
      node.appendChild(el('p', 'db-empty', opts.empty || 'No bracket yet.'));
    } else {
      node = build(view, opts);
    }
    while (container.firstChild) container.removeChild(container.firstChild);
    container.appendChild(node);
  }

  window.DojoBracket = { render: render };
}());
